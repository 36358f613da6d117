//! Working with peers: `connect`, `call`, `request`/`tasks`/`result` (asynchronous calls) and
//! `collaborate`. A peer is named by inbox id, by the name it connected with, or by an invite
//! code (which connects first).

use std::time::Duration;

use clap::Args;
use coworker_host::api::{Outcome, Progress, TrustOutcome};
use coworker_host::{Api, Connected, ErrorKind, HostError};
use coworker_runtime::CallOptions;
use coworker_runtime::protocol::okr::{OkrStatus, StepStatus};
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::protocol::{Invite, SkillCard};
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
pub(crate) async fn resolve_peer(api: &Api, text: &str) -> Result<String, CliError> {
    let text = text.trim();
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(text.to_ascii_lowercase());
    }
    match api.find_peer(text).await {
        Ok(peer) => return Ok(peer.inbox_id),
        Err(e) if e.kind == ErrorKind::NotFound => {}
        Err(e) => {
            return Err(CliError::from(e)
                .hint("name the peer by its inbox id (coworker trust list shows them)"));
        }
    }
    if Invite::parse(text, 0).is_ok() || text.starts_with("coworker://") {
        let connected = api.connect(text, None, "", Duration::from_secs(10)).await?;
        return Ok(connected.peer.inbox_id);
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
    if let Some(tier) = ask {
        out.progress(&format!("asking for {tier} once connected…"));
    }
    let wait = Duration::from_secs(args.wait_secs);
    let result = session.api.connect(&args.code, ask, &args.reason, wait).await;
    drop(spinner);
    session.close().await;
    let connected = result?;
    let (value, human) = describe_connected(&connected, out);
    out.result(&value, &human);
    Ok(())
}

fn describe_connected(connected: &Connected, out: Out) -> (Value, String) {
    let Connected { peer, online, asked, answer } = connected;
    // The documented `trust_answer`: the peer's answer as it sent it, or `{"pending": true}`.
    let trust_answer = match answer {
        None => Value::Null,
        Some(TrustOutcome::Pending) => json!({"pending": true}),
        Some(TrustOutcome::Granted { tier }) => json!({"granted": true, "granted_tier": tier}),
        Some(TrustOutcome::Denied { reason }) => {
            json!({"granted": false, "requested_tier": asked, "reason": reason})
        }
    };
    let value = json!({
        "peer": {"name": peer.name, "inbox_id": peer.inbox_id, "tier": peer.tier},
        "skills": peer.skills.iter().map(card_json).collect::<Vec<_>>(),
        "trust_answer": trust_answer,
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
    let asked = asked.map(Tier::label).unwrap_or_default();
    match answer {
        Some(TrustOutcome::Pending) => human.push_str(&format!(
            "\ntrust: asked for {asked}; pending — the peer's owner has not decided yet \
             (connect again later to see what it granted)"
        )),
        Some(TrustOutcome::Granted { tier }) => human.push_str(&format!(
            "\ntrust: asked for {asked}; {} — it holds you at {tier}",
            out.green("granted")
        )),
        Some(TrustOutcome::Denied { reason }) => {
            human.push_str(&format!("\ntrust: asked for {asked}; denied — {reason}"));
        }
        None if *online && peer.skills.is_empty() => {
            human.push_str(" none yet — the peer holds you at UNTRUSTED; ask with --ask known")
        }
        None => {}
    }
    (value, human)
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
    let api = &session.api;
    let result = async {
        let peer = resolve_peer(api, &args.peer).await?;
        let (sink, mut reports) = tokio::sync::mpsc::unbounded_channel();
        let progress = tokio::spawn(async move {
            while let Some(report) = reports.recv().await {
                if let Progress::Call { percent, text, .. } = report {
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
        let outcome = api.call(&peer, &args.skill, input, options, Some(sink)).await;
        drop(spinner);
        let _ = progress.await;
        outcome.map_err(CliError::from)
    }
    .await;
    session.close().await;
    let done = result?;
    let duration_ms = done.elapsed_ms;
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
        let peer = resolve_peer(&session.api, &args.peer).await?;
        Ok::<_, CliError>(session.api.request(&peer, &args.skill, input).await?)
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
    let calls = session.api.calls().await;
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
    let api = &session.api;
    let outcome = async {
        let calls = api.calls().await?;
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
        let answer = api.call_result(&task_id, Duration::from_secs(args.wait)).await?;
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
        Some(Outcome::Completed { output }) => {
            let value =
                json!({"task_id": task_id, "status": "completed", "ok": true, "result": output});
            out.result(&value, &serde_json::to_string_pretty(&output).unwrap_or_default());
            Ok(())
        }
        Some(Outcome::Failed { code, message }) => Err(CliError::from(HostError {
            kind: ErrorKind::Refused,
            code: "call.failed".into(),
            message: format!("{code}: {message}"),
            peer_code: Some(code),
        })),
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
    let api = &session.api;
    let outcome = async {
        let peer = resolve_peer(api, &args.peer).await?;
        let (sink, mut reports) = tokio::sync::mpsc::unbounded_channel();
        // The OKR as it is planned and executed, live.
        let live = tokio::spawn(async move {
            while let Some(report) = reports.recv().await {
                if let Progress::Okr { okr } = report {
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
        let okr = api.collaborate(&peer, &args.goal, Some(sink)).await;
        let _ = live.await;
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
