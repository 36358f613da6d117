//! `coworker serve FILE` and `coworker host`: the process that holds an identity. `serve` runs
//! the skills and policy of an agent file (see [`coworker_host::agent_file`]; a data directory without
//! an identity gets one, named as the file says); `host` runs the identity with the agent file
//! it last served, if any. Both serve the control API (`docs/control-api.md`) on the data
//! directory's socket, so every other `coworker` command, an MCP server or a Python program
//! works with this running agent, and stop on Ctrl-C or SIGTERM. The XMTP stream reconnects by
//! itself when the node goes away.
//!
//! On a terminal, trust requests are put to the owner as they arrive (y/N); `coworker trust
//! approve` works beside it too.
//!
//! Output: `{"event":"ready","name","inbox_id","address","code","uri","network"}` (`code` is the
//! agent's invite), then one line per activity event (`{"event":"task_served",…}`, …).

use std::path::{Path, PathBuf};

use std::io::IsTerminal;

use clap::Args;
use coworker_host::approval::Question;
use coworker_runtime::protocol::Invite;
use serde_json::json;

use crate::output::{CliError, Out};
use crate::profile::{Global, Profile, Session};
use coworker_host::agent_file::AgentFile;

pub(crate) const EXAMPLES: &str = r#"Examples:
  COWORKER_KEYSTORE_PASSWORD=... coworker serve translator.toml --data-dir ./translator --network local

translator.toml:
  name = "translator"

  [trust]
  auto_grant = "known"            # highest tier granted without a human (default: none)
  [trust.peers]                   # tiers set once, by inbox id (a restart
                                  # does not undo a step-down or a block)
  "0b1c…" = "internal"

  [[skill]]
  name = "translate"
  description = "Translates text to English"
  when_to_use = "text in another language"
  input = { text = "str" }        # shorthand or a JSON Schema
  output = { translated = "str" }
  min_tier = "known"
  command = ["python3", "translate.py"]   # JSON on stdin -> JSON on stdout
  pass_env = ["HOME"]             # a command gets PATH and only what is named here
  env = { MODEL = "small" }       # (never COWORKER_KEYSTORE_PASSWORD)

  [[skill]]
  name = "search"
  description = "Searches our notes"
  input = { query = "str" }
  output = { hits = "list" }
  url = "http://127.0.0.1:8080/search"    # POSTs the input, returns the JSON answer
  exposed = false                         # hidden until the owner exposes it

  [[skill]]
  name = "tickets"                # a tool of a local MCP server: its description and
  mcp = { command = ["npx", "-y", "some-mcp-server"], tool = "search_tickets" }   # or url = "http://…/mcp"
  min_tier = "internal"           # schemas come from the tool (input/output narrow them)"#;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The agent file (TOML).
    file: PathBuf,
    #[command(flatten)]
    hold: HoldArgs,
}

/// How long the process holds the identity.
#[derive(Debug, Clone, Copy, Default, Args)]
pub(crate) struct HoldArgs {
    /// Also stop when standard input closes: for a program that started this agent and
    /// keeps its stdin open while it lives (the Python SDK), so the agent never outlives it.
    #[arg(long)]
    attached: bool,
}

pub(crate) async fn run(global: &Global, args: ServeArgs, out: Out) -> Result<(), CliError> {
    let file = AgentFile::load(&args.file)?;
    let data_dir = global.own_data_dir()?;
    // The file's path is kept (absolute) so other commands serve the same skills.
    let path = args.file.canonicalize().unwrap_or_else(|_| args.file.clone());
    let mut profile = match Profile::load(&data_dir)? {
        Some(profile) => profile,
        None => Profile::new(global, &file.name, &data_dir),
    };
    profile.agent_file = Some(path);
    hold(global, profile, args.hold, out).await
}

/// `coworker host`: the identity (with the agent file it last served) until stopped.
pub(crate) async fn host(global: &Global, args: HoldArgs, out: Out) -> Result<(), CliError> {
    let data_dir = global.own_data_dir()?;
    let profile = Profile::load(&data_dir)?.ok_or_else(|| {
        CliError::new(
            "no_identity",
            crate::output::exit::NOT_FOUND,
            format!("no CoWorker identity in {}", data_dir.display()),
        )
        .hint("create one: coworker init --name NAME, or coworker serve FILE")
    })?;
    hold(global, profile, args, out).await
}

/// Holds the identity: serves its agent, its control socket and the owner's terminal until
/// stopped.
async fn hold(global: &Global, profile: Profile, args: HoldArgs, out: Out) -> Result<(), CliError> {
    let data_dir = global.own_data_dir()?;
    let session = Session::start(global, profile.clone(), &data_dir).await?;
    profile.save(&data_dir)?;
    let Some(agent) = session.agent().cloned() else {
        return Err(CliError::other("the identity did not open in this process"));
    };
    let control = session.control_socket().map(Path::to_owned);
    let mut events = agent.subscribe();
    let code = agent.invite(None)?;
    let ready = json!({"event": "ready", "name": profile.name, "inbox_id": agent.inbox_id(),
        "address": agent.client().address(), "code": code, "uri": Invite::uri(&code),
        "network": session.network, "control": control});
    let human = format!(
        "{} serving {} skill(s) on {}\ninbox {}\ninvite {}",
        out.bold(&profile.name),
        agent.preview(coworker_runtime::protocol::trust::Tier::Privileged).len(),
        session.network,
        agent.inbox_id(),
        code
    );
    out.result(&ready, &human);
    let printer = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    let mut line = serde_json::to_value(&event).unwrap_or_default();
                    if let Some(map) = line.as_object_mut()
                        && let Some(kind) = map.remove("type")
                    {
                        map.insert("event".into(), kind);
                    }
                    let human = crate::activity::describe(&event);
                    out.line(&line, &human);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "activity output lagged");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    let approver = (!args.attached && !out.json && std::io::stdin().is_terminal()).then(|| {
        let agent = agent.clone();
        tokio::spawn(approve_on_the_terminal(agent))
    });
    if args.attached {
        tokio::select! {
            () = crate::node::shutdown_signal() => {}
            () = stdin_closed() => tracing::info!("standard input closed: stopping"),
        }
    } else {
        crate::node::shutdown_signal().await;
    }
    printer.abort();
    if let Some(approver) = approver {
        approver.abort();
    }
    session.close().await;
    Ok(())
}

/// Resolves when standard input reaches its end (or cannot be read).
async fn stdin_closed() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin().lock();
        while matches!(std::io::Read::read(&mut stdin, &mut sink), Ok(n) if n > 0) {}
    })
    .await;
}

/// On a terminal, the owner answers trust requests as they arrive (`coworker trust approve`
/// in another terminal works too).
#[allow(clippy::print_stderr)]
async fn approve_on_the_terminal(agent: coworker_runtime::Agent) {
    let mut events = agent.subscribe();
    while let Ok(event) = events.recv().await {
        let Some(question) = Question::of(&agent, &event).await else { continue };
        let Question::Trust { who, tier, reason, .. } = &question else { continue };
        let prompt = crate::output::terminal_safe(&format!(
            "approve {who} as {tier}? Its reason: “{reason}” [y/N] "
        ));
        let answer = tokio::task::spawn_blocking(move || {
            eprint!("{prompt}");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map(|_| line)
        })
        .await;
        let approve = matches!(&answer, Ok(Ok(line)) if line.trim().eq_ignore_ascii_case("y"));
        if let Err(e) = question.answer(&agent, approve).await {
            eprintln!("coworker: {e}");
        }
    }
}
