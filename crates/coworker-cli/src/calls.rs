//! Working with peers: `connect`, `call`, `request`/`tasks`/`result` (asynchronous calls) and
//! `collaborate`. A peer is named by inbox id, by the name it connected with, or by an invite
//! code (which connects first).

use std::time::Duration;

use clap::Args;
use coworker_runtime::protocol::okr::{OkrStatus, StepStatus};
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::protocol::{Invite, SkillCard};
use coworker_runtime::{Agent, AgentEvent, CallOptions};
use serde_json::{Value, json};

use crate::output::{CliError, Out, exit};
use crate::profile::{Global, Session};

pub(crate) const CONNECT_EXAMPLES: &str = "\
Examples:
  coworker connect 'coworker://invite/eyJu…'          # connect, ask for KNOWN, list its skills
  coworker connect eyJu… --ask internal --reason 'translation for the launch'
  coworker connect eyJu… --ask none                   # only connect: you stay UNTRUSTED there";

pub(crate) const REQUEST_EXAMPLES: &str = "\
Examples:
  coworker request translator translate --input '{\"text\":\"a long document\"}'
  coworker tasks                                     # what you asked, and its status
  coworker result 7c0e5a4e --wait 60                 # a unique prefix of the task id is enough";

pub(crate) const COLLABORATE_EXAMPLES: &str = "\
Examples:
  coworker collaborate researcher \"search rust async runtimes and summarize them\"
  coworker --json collaborate researcher \"…\"         # one line per OKR update, then the result";

pub(crate) const CALL_EXAMPLES: &str = "\
Examples:
  coworker call translator translate --input '{\"text\":\"hola\"}'
  coworker call 5f2a…e9 search --input @query.json --timeout 60
  coworker --json call translator translate --input '{\"text\":\"hola\"}' | jq .result";

/// A peer's inbox id from an inbox id, a known name or an invite code.
pub(crate) async fn resolve_peer(agent: &Agent, text: &str) -> Result<String, CliError> {
    let text = text.trim();
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(text.to_ascii_lowercase());
    }
    match agent.find_peer(text).await {
        Ok(peer) => return Ok(peer.inbox_id),
        Err(coworker_runtime::RuntimeError::NotFound(_)) => {}
        Err(e) => {
            return Err(CliError::from(e)
                .hint("name the peer by its inbox id (coworker trust list shows them)"));
        }
    }
    if Invite::parse(text, 0).is_ok() || text.starts_with("coworker://") {
        return Ok(agent.connect(text).await?.inbox_id);
    }
    Err(CliError::new("unknown_peer", exit::NOT_FOUND, format!("no peer {text:?}"))
        .hint("connect first with its invite: coworker connect CODE"))
}

fn card_json(card: &SkillCard) -> Value {
    json!({"name": card.name, "description": card.description, "when_to_use": card.when_to_use,
        "input_schema": card.input_schema, "output_schema": card.output_schema,
        "min_tier": card.min_trust_tier, "version": card.version})
}

fn card_line(out: Out, card: &SkillCard) -> String {
    let fields = |schema: &Value| {
        schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    format!(
        "  {:<18} {}  {}",
        out.bold(&card.name),
        card.description,
        out.dim(&format!("({}) → ({})", fields(&card.input_schema), fields(&card.output_schema)))
    )
}

#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// The invite code or coworker:// URI.
    code: String,
    /// Ask the peer to hold you at this tier (its owner or its policy decides): untrusted,
    /// known, internal, privileged, 0-3, or `none` to ask nothing.
    #[arg(long, default_value = "known")]
    ask: String,
    /// Why, shown to the peer's owner (default: that you accepted its invite).
    #[arg(long, default_value = "")]
    reason: String,
    /// How long to wait for the peer (and for its owner's decision).
    #[arg(long, default_value_t = 30)]
    wait_secs: u64,
}

pub(crate) async fn connect(global: &Global, args: ConnectArgs, out: Out) -> Result<(), CliError> {
    let ask = match args.ask.trim() {
        t if t.eq_ignore_ascii_case("none") => None,
        t => Some(Tier::parse(t).ok_or_else(|| {
            CliError::invalid(format!("{t:?} is not a tier"))
                .hint("untrusted, known, internal, privileged, 0-3 or none")
        })?),
    };
    let session = Session::open(global).await?;
    let spinner = out.spinner("connecting");
    let result = connect_in(&session.agent, &args, ask, out).await;
    drop(spinner);
    session.close().await;
    let (value, human) = result?;
    out.result(&value, &human);
    Ok(())
}

async fn connect_in(
    agent: &Agent,
    args: &ConnectArgs,
    ask: Option<Tier>,
    out: Out,
) -> Result<(Value, String), CliError> {
    let wait = Duration::from_secs(args.wait_secs);
    let timed_out = |e: &coworker_runtime::RuntimeError| {
        matches!(e, coworker_runtime::RuntimeError::Call(coworker_runtime::CallError::Timeout(_)))
    };
    let mut peer = agent.add_peer(&args.code).await?;
    // An offline peer is still connected: its skills show once it answers.
    let online = match agent.discover_within(&peer.inbox_id, wait).await {
        Ok(_) => true,
        Err(e) if timed_out(&e) => false,
        Err(e) => return Err(e.into()),
    };
    let mut answer = Value::Null;
    // An offline peer gets the request when it is back; its owner decides then.
    if let Some(tier) = ask {
        out.progress(&format!("asking {} to hold you at {tier}…", peer.name));
        let reason = if args.reason.is_empty() {
            format!("{} accepted your invite", agent.name())
        } else {
            args.reason.clone()
        };
        // A human may have to decide: wait a little, then report it as pending.
        let decision = wait.min(Duration::from_secs(10));
        answer = match agent.request_trust(&peer.inbox_id, tier, &reason, decision).await {
            Ok(decision) => serde_json::to_value(&decision).unwrap_or_default(),
            // The owner decides later; the decision applies on their side when they do.
            Err(e) if timed_out(&e) => json!({"pending": true}),
            Err(e) => return Err(e.into()),
        };
        if answer.get("granted") == Some(&Value::Bool(true)) {
            agent.discover_within(&peer.inbox_id, wait).await?;
        }
    }
    peer = agent.peer(&peer.inbox_id).await?;
    let value = json!({
        "peer": {"name": peer.name, "inbox_id": peer.inbox_id, "tier": peer.tier},
        "skills": peer.skills.iter().map(card_json).collect::<Vec<_>>(),
        "trust_answer": answer,
        "online": online,
    });
    let mut human = format!(
        "{} {} ({})\n{} skill(s) you may call:",
        out.green("✓ connected to"),
        out.bold(&peer.name),
        peer.inbox_id,
        peer.skills.len()
    );
    for card in &peer.skills {
        human.push('\n');
        human.push_str(&card_line(out, card));
    }
    if !online {
        human.push_str(" unknown — the peer did not answer (offline?); connect again later");
    }
    let asked = ask.map(Tier::label).unwrap_or_default();
    if answer.get("pending").is_some() {
        human.push_str(&format!(
            "\ntrust: asked for {asked}; pending — the peer's owner has not decided yet \
             (connect again later to see what it granted)"
        ));
    } else if answer.get("granted") == Some(&Value::Bool(true)) {
        let held = answer.get("granted_tier").and_then(Value::as_u64).unwrap_or_default();
        let held = u8::try_from(held).ok().and_then(|t| Tier::try_from(t).ok()).unwrap_or_default();
        human.push_str(&format!(
            "\ntrust: asked for {asked}; {} — it holds you at {held}",
            out.green("granted")
        ));
    } else if answer.get("granted") == Some(&Value::Bool(false)) {
        let why = answer.get("reason").and_then(Value::as_str).unwrap_or("no reason given");
        human.push_str(&format!("\ntrust: asked for {asked}; denied — {why}"));
    } else if online && peer.skills.is_empty() {
        human.push_str(" none yet — the peer holds you at UNTRUSTED; ask with --ask known");
    }
    Ok((value, human))
}

/// JSON from `--input`: inline, `@file`, or `-` for stdin.
fn input(text: &str) -> Result<Value, CliError> {
    let raw = if text == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| CliError::invalid(format!("cannot read stdin: {e}")))?
    } else if let Some(path) = text.strip_prefix('@') {
        std::fs::read_to_string(path).map_err(|e| CliError::invalid(format!("{path}: {e}")))?
    } else {
        text.to_owned()
    };
    serde_json::from_str(&raw).map_err(|e| {
        CliError::invalid(format!("--input is not valid JSON: {e}"))
            .hint("quote it for the shell: --input '{\"text\":\"hi\"}'")
    })
}

#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// The peer: inbox id, name or invite code.
    peer: String,
    /// The skill.
    skill: String,
    /// The input: JSON, @FILE or - (stdin).
    #[arg(long, default_value = "{}")]
    input: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Reuse a task id (a retry: the peer runs a task id once).
    #[arg(long)]
    task_id: Option<String>,
}

pub(crate) async fn call(global: &Global, args: CallArgs, out: Out) -> Result<(), CliError> {
    let input = input(&args.input)?;
    let session = Session::open(global).await?;
    let agent = session.agent.clone();
    let result = async {
        let peer = resolve_peer(&agent, &args.peer).await?;
        let mut events = agent.subscribe();
        let progress = tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                if let AgentEvent::CallProgress { percent, text, .. } = event {
                    out.progress(&format!("{percent:>3}% {text}"));
                }
            }
        });
        let spinner = out.spinner(&format!("calling {}", args.skill));
        let options = CallOptions {
            task_id: args.task_id.clone(),
            timeout: Some(Duration::from_secs(args.timeout)),
            ..Default::default()
        };
        let outcome = agent.call(&peer, &args.skill, input, options).await;
        drop(spinner);
        progress.abort();
        outcome.map_err(CliError::from)
    }
    .await;
    session.close().await;
    let done = result?;
    let duration_ms = u64::try_from(done.elapsed.as_millis()).unwrap_or(u64::MAX);
    let receipt = done.receipt.as_ref().map(|r| r.receipt.id.clone());
    let value = json!({"ok": true, "result": done.output, "error": null, "duration_ms": duration_ms,
        "receipt_id": receipt, "task_id": done.task_id});
    let pretty = serde_json::to_string_pretty(&done.output).unwrap_or_default();
    let human =
        format!("{pretty}\n{}", out.dim(&format!("{duration_ms} ms · task {}", done.task_id)));
    out.result(&value, &human);
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// The peer: inbox id, name or invite code.
    peer: String,
    /// The skill.
    skill: String,
    /// The input: JSON, @FILE or - (stdin).
    #[arg(long, default_value = "{}")]
    input: String,
}

/// An asynchronous call: sent now, answered whenever the peer is done (see `result`).
pub(crate) async fn request(global: &Global, args: RequestArgs, out: Out) -> Result<(), CliError> {
    let input = input(&args.input)?;
    let session = Session::open(global).await?;
    let result = async {
        let peer = resolve_peer(&session.agent, &args.peer).await?;
        Ok::<_, CliError>(session.agent.call_async(&peer, &args.skill, input).await?)
    }
    .await;
    session.close().await;
    let task_id = result?;
    let value = json!({"task_id": task_id, "status": "sent"});
    out.result(&value, &format!("sent: task {task_id}\nlater: coworker result {task_id}"));
    Ok(())
}

pub(crate) async fn tasks(global: &Global, out: Out) -> Result<(), CliError> {
    let session = Session::open(global).await?;
    let calls = session.agent.calls().await;
    session.close().await;
    let calls = calls?;
    let value = json!({"tasks": calls});
    let mut human = String::new();
    for call in &calls {
        human.push_str(&format!(
            "{}  {:<16} {:<10} {}\n",
            call.task_id,
            call.skill,
            call.status,
            call.peer.get(..8).unwrap_or(&call.peer)
        ));
    }
    if calls.is_empty() {
        human.push_str("no calls yet");
    }
    out.result(&value, human.trim_end());
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct ResultArgs {
    /// The task id (or a unique prefix of it).
    task_id: String,
    /// Wait up to this many seconds for a pending answer.
    #[arg(long, default_value_t = 0)]
    wait: u64,
}

pub(crate) async fn result(global: &Global, args: ResultArgs, out: Out) -> Result<(), CliError> {
    let session = Session::open(global).await?;
    let agent = session.agent.clone();
    let outcome = async {
        let calls = agent.calls().await?;
        let matching: Vec<_> =
            calls.iter().filter(|c| c.task_id.starts_with(&args.task_id)).collect();
        let task_id = match matching.as_slice() {
            [one] => one.task_id.clone(),
            [] => {
                return Err(CliError::new(
                    "unknown_task",
                    exit::NOT_FOUND,
                    format!("no task {}", args.task_id),
                )
                .hint("coworker tasks lists them"));
            }
            _ => {
                return Err(CliError::invalid(format!(
                    "{} tasks start with {}",
                    matching.len(),
                    args.task_id
                )));
            }
        };
        // Subscribe before looking, so an answer settled in between is not missed.
        let mut events = agent.subscribe();
        if agent.call_result(&task_id).await?.is_none() {
            let finished = async {
                while let Ok(event) = events.recv().await {
                    if matches!(&event, AgentEvent::CallFinished { task_id: t, .. } if *t == task_id) {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(args.wait), finished).await;
        }
        let answer = agent.call_result(&task_id).await?;
        Ok((task_id, answer))
    }
    .await;
    session.close().await;
    let (task_id, answer) = outcome?;
    match answer {
        None => {
            let value = json!({"task_id": task_id, "status": "pending"});
            out.result(&value, &format!("task {task_id} is still pending (try --wait 30)"));
            Ok(())
        }
        Some(Ok(output)) => {
            let value =
                json!({"task_id": task_id, "status": "completed", "ok": true, "result": output});
            out.result(&value, &serde_json::to_string_pretty(&output).unwrap_or_default());
            Ok(())
        }
        Some(Err(error)) => Err(CliError::from(coworker_runtime::RuntimeError::from(error))),
    }
}

#[derive(Debug, Args)]
pub(crate) struct CollaborateArgs {
    /// The peer: inbox id, name or invite code.
    peer: String,
    /// The goal, in words.
    goal: String,
}

pub(crate) async fn collaborate(
    global: &Global,
    args: CollaborateArgs,
    out: Out,
) -> Result<(), CliError> {
    let session = Session::open(global).await?;
    let agent = session.agent.clone();
    let outcome = async {
        let peer = resolve_peer(&agent, &args.peer).await?;
        let mut events = agent.subscribe();
        // The OKR as it is planned and executed, live.
        let live = tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                if let AgentEvent::Okr(okr) = event {
                    let steps: Vec<String> = okr
                        .steps
                        .iter()
                        .map(|s| {
                            let mark = match s.status {
                                StepStatus::Done => "✓",
                                StepStatus::Running => "…",
                                StepStatus::Failed => "✗",
                                StepStatus::Skipped => "-",
                                _ => "·",
                            };
                            format!("{mark} {}", s.skill)
                        })
                        .collect();
                    let line = json!({"event": "okr", "okr": okr});
                    let human =
                        format!("{:?} {}%  {}", okr.status, okr.progress(), steps.join("  "));
                    out.line(&line, &human);
                }
            }
        });
        let okr = agent.collaborate(&peer, &args.goal).await;
        live.abort();
        Ok::<_, CliError>(okr?)
    }
    .await;
    session.close().await;
    let okr = outcome?;
    let value = json!({"event": "done", "okr": okr});
    let human = match okr.status {
        OkrStatus::Completed => format!("{} {}", out.green("✓ completed:"), okr.objective),
        other => format!("OKR ended {other:?}: {}", okr.objective),
    };
    out.result(&value, &human);
    match okr.status {
        OkrStatus::Completed => Ok(()),
        OkrStatus::Rejected => {
            Err(CliError::new("okr_rejected", exit::REFUSED, "the peer rejected the plan"))
        }
        _ => Err(CliError::new("okr_failed", exit::REFUSED, "a step failed; see the steps above")),
    }
}
