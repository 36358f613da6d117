//! `coworker mcp`: the identity's agent as an MCP server on stdio, for Claude Code, Cursor and
//! any MCP host. It answers `initialize` at once and opens the identity lazily: the running host
//! when there is one (the app, `coworker serve`, `coworker host`), else in this process. Only
//! MCP goes to stdout; logs go to stderr.
//!
//! Tools: `coworker_peers`, `coworker_skills`, `coworker_call`, `coworker_connect`,
//! `coworker_invite`, `coworker_collaborate`, `coworker_task`, and one tool per skill of each
//! pinned peer (`--peer`). No tool grants, approves or raises a tier: `coworker_connect` asks a
//! peer for KNOWN only, and requests for more reach the human (the app's notification or the
//! terminal of `coworker serve`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clap::{Args, Subcommand};
use coworker_host::HostError;
use coworker_host::api::{Outcome, Progress, TrustOutcome};
use coworker_runtime::CallOptions;
use coworker_runtime::protocol::okr::StepStatus;
use coworker_runtime::protocol::schema;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::protocol::{Okr, SkillCard};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam,
    ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::{OnceCell, mpsc};

use crate::output::CliError;
use crate::profile::{Global, Session};

pub(crate) const EXAMPLES: &str = "\
Examples:
  claude mcp add coworker -- coworker mcp          # Claude Code
  coworker mcp install --cursor                    # Cursor (~/.cursor/mcp.json)
  coworker mcp --peer translator                   # translator's skills as tools of their own
  coworker mcp install --claude --project --print  # the .mcp.json entry, printed";

/// How long a host may be kept waiting between progress notifications (they reset its timeout).
const HEARTBEAT: Duration = Duration::from_secs(10);
/// How often pinned peers are asked for their skills (a tier they changed shows up here).
const REFRESH: Duration = Duration::from_secs(15);
/// Tool names hosts accept: 64 characters with their `mcp__coworker__` prefix.
const MAX_TOOL_NAME: usize = 64 - "mcp__coworker__".len();
/// Pinned skills become at most this many tools (hosts slow down or refuse beyond ~40 tools;
/// the rest stay callable through `coworker_call`).
const MAX_PINNED_TOOLS: usize = 32;
/// How long connect, discovery and a trust answer may take.
const PEER_WAIT: Duration = Duration::from_secs(10);

/// `coworker mcp`.
#[derive(Debug, Args)]
pub(crate) struct McpArgs {
    /// A peer (name or inbox id) whose skills become tools of their own; repeatable.
    #[arg(long = "peer", value_name = "PEER")]
    peers: Vec<String>,
    /// Serve streamable HTTP on this loopback address (`127.0.0.1:8765`, path `/mcp`) instead
    /// of stdio. Requests naming another host (DNS rebinding) or sent from a web page of
    /// another origin are refused.
    #[arg(long, value_name = "ADDR")]
    http: Option<std::net::SocketAddr>,
    #[command(subcommand)]
    command: Option<McpCommand>,
}

#[derive(Debug, Subcommand)]
enum McpCommand {
    /// Add `coworker mcp` to Claude Code's or Cursor's MCP configuration.
    Install(InstallArgs),
}

#[derive(Debug, Args)]
struct InstallArgs {
    /// Claude Code (`~/.claude.json`, or `.mcp.json` with --project).
    #[arg(long, conflicts_with = "cursor", required_unless_present = "cursor")]
    claude: bool,
    /// Cursor (`~/.cursor/mcp.json`, or `.cursor/mcp.json` with --project).
    #[arg(long)]
    cursor: bool,
    /// For this project (the current directory) instead of for the user.
    #[arg(long)]
    project: bool,
    /// Print the entry instead of writing it.
    #[arg(long)]
    print: bool,
}

pub(crate) async fn run(global: &Global, args: McpArgs) -> Result<(), CliError> {
    if let Some(McpCommand::Install(install)) = args.command {
        return self::install(global, &install);
    }
    let server = Server(Arc::new(Shared {
        global: global.clone(),
        pinned: args.peers,
        session: OnceCell::new(),
        tools: Mutex::new(None),
    }));
    // Opening the identity may take a while (the network): start now, answer MCP at once.
    let opening = server.clone();
    tokio::spawn(async move {
        if let Err(e) = opening.session().await {
            tracing::warn!("the identity did not open yet: {}", e.message);
        }
    });
    match args.http {
        Some(address) => Box::pin(serve_http(server.clone(), address)).await?,
        None => {
            let running = Box::pin(server.clone().serve(rmcp::transport::stdio()))
                .await
                .map_err(|e| CliError::other(format!("MCP: {e}")))?;
            let _ = running.waiting().await;
        }
    }
    if let Some(session) = Arc::into_inner(server.0).and_then(|s| s.session.into_inner()) {
        session.close().await;
    }
    Ok(())
}

/// Streamable HTTP at `http://ADDR/mcp` until Ctrl-C or SIGTERM. Only loopback: a remote
/// host reaches the agent through its own `coworker mcp` (or over ssh), never a port.
async fn serve_http(server: Server, address: std::net::SocketAddr) -> Result<(), CliError> {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    if !address.ip().is_loopback() {
        return Err(CliError::invalid(format!("{address} is not a loopback address"))
            .hint("use 127.0.0.1:PORT; remote hosts run their own `coworker mcp` over stdio"));
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let config = StreamableHttpServerConfig::default()
        .with_cancellation_token(stop.clone())
        // Browsers may only come from pages on this machine.
        .with_allowed_origins(["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"]);
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| CliError::other(format!("cannot listen on {address}: {e}")))?;
    let bound = listener.local_addr().map_or(address, |a| a);
    tracing::info!("MCP over streamable HTTP at http://{bound}/mcp");
    eprintln_ready(&format!("coworker mcp: http://{bound}/mcp"));
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            crate::node::shutdown_signal().await;
            stop.cancel();
        })
        .await
        .map_err(|e| CliError::other(format!("MCP over HTTP: {e}")))
}

/// The address the HTTP server listens on, for whoever started it (stderr: stdout stays quiet).
#[allow(clippy::print_stderr)]
fn eprintln_ready(text: &str) {
    eprintln!("{text}");
}

/// The MCP server: cheap to clone.
#[derive(Clone)]
struct Server(Arc<Shared>);

struct Shared {
    global: Global,
    pinned: Vec<String>,
    session: OnceCell<Session>,
    /// The pinned peers' skills as tools; `None` until they were first asked.
    tools: Mutex<Option<Vec<PinnedTool>>>,
}

/// A pinned peer's skill as a tool.
#[derive(Clone, PartialEq)]
struct PinnedTool {
    tool: Tool,
    peer: String,
    skill: String,
    /// The output is not an object: it is given as `{"result": …}`.
    wrapped: bool,
}

impl Server {
    async fn session(&self) -> Result<&Session, HostError> {
        self.0
            .session
            .get_or_try_init(|| async {
                Box::pin(Session::open(&self.0.global)).await.map_err(|e| HostError {
                    kind: coworker_host::ErrorKind::Failed,
                    code: e.code,
                    message: e.message,
                    peer_code: None,
                })
            })
            .await
    }

    fn pinned_tools(&self) -> Option<Vec<PinnedTool>> {
        self.0.tools.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Asks the pinned peers for their skills; whether the tools changed.
    async fn refresh(&self) -> Result<bool, HostError> {
        let api = &self.session().await?.api;
        let mut tools: Vec<PinnedTool> = Vec::new();
        for text in &self.0.pinned {
            let peer = api.find_peer(text).await?;
            let cards = match api.discover(&peer.inbox_id, PEER_WAIT).await {
                Ok(cards) => cards,
                // Offline: what it showed us last.
                Err(e) => {
                    tracing::info!("{}: {}", peer.inbox_id, e.message);
                    peer.skills.clone()
                }
            };
            for card in cards {
                if tools.len() == MAX_PINNED_TOOLS {
                    tracing::warn!(
                        "more than {MAX_PINNED_TOOLS} pinned skills: the rest only through coworker_call"
                    );
                    break;
                }
                let name = unique(tool_name(&peer.name, &card.name), &tools);
                if let Some(tool) = skill_tool(&name, &peer.name, &peer.inbox_id, &card) {
                    tools.push(tool);
                }
            }
        }
        let mut held = self.0.tools.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = held.as_ref() != Some(&tools);
        *held = Some(tools);
        Ok(changed)
    }
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        let capabilities =
            ServerCapabilities::builder().enable_tools().enable_tool_list_changed().build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("coworker", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "CoWorker: call skills of other people's agents (peers) over end-to-end \
                 encrypted XMTP. Peers decide what you may call; you cannot raise your own \
                 trust tier — a human approves that.",
            )
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if self.0.pinned.is_empty() {
            return;
        }
        // The host's first `tools/list` asks the pinned peers; this asks again every REFRESH.
        // Weak: when the host goes, the server (and the identity it holds) closes cleanly.
        let weak = Arc::downgrade(&self.0);
        let peer = context.peer;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(REFRESH).await;
                let Some(server) = weak.upgrade().map(Server) else { return };
                match server.refresh().await {
                    Ok(true) => {
                        if peer.notify_tool_list_changed().await.is_err() {
                            return;
                        }
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!("pinned peers: {}", e.message),
                }
            }
        });
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        if !self.0.pinned.is_empty()
            && self.pinned_tools().is_none()
            && let Err(e) = self.refresh().await
        {
            tracing::warn!("pinned peers: {}", e.message);
        }
        let mut tools = meta_tools();
        tools.extend(self.pinned_tools().unwrap_or_default().into_iter().map(|t| t.tool));
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = request.arguments.unwrap_or_default();
        let name = request.name.as_ref();
        let pinned =
            self.pinned_tools().unwrap_or_default().into_iter().find(|t| t.tool.name == name);
        if pinned.is_none() && !meta_tools().iter().any(|t| t.name == name) {
            return Err(McpError::invalid_params(format!("unknown tool {name}"), None));
        }
        let outcome = match pinned {
            Some(tool) => {
                let input = Value::Object(args);
                match Box::pin(self.call(&tool.peer, &tool.skill, input, &context)).await {
                    Ok(Some(called)) if tool.wrapped => {
                        Ok(Some(json!({"result": called["output"]})))
                    }
                    Ok(Some(called)) => Ok(Some(called["output"].clone())),
                    other => other,
                }
            }
            None => Box::pin(self.meta(name, &args, &context)).await,
        };
        Ok(match outcome {
            Ok(Some(value)) => CallToolResult::structured(value),
            Ok(None) => CallToolResult::error(vec![ContentBlock::text(
                "CANCELLED: the call was cancelled; the peer was asked to stop",
            )]),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(failure_text(&e))]),
        }
        .into())
    }
}

impl Server {
    /// A meta tool; `Ok(None)`: cancelled.
    async fn meta(
        &self,
        name: &str,
        args: &JsonObject,
        context: &RequestContext<RoleServer>,
    ) -> Result<Option<Value>, HostError> {
        let text = |key: &str| -> Result<String, HostError> {
            args.get(key).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| {
                HostError::invalid("mcp.arguments", format!("`{key}` (a string) is required"))
            })
        };
        let api = &self.session().await?.api;
        match name {
            "coworker_peers" => {
                let peers = api.peers().await?;
                let list: Vec<Value> = peers
                    .iter()
                    .map(|p| {
                        let skills: Vec<&str> = p.skills.iter().map(|s| s.name.as_str()).collect();
                        json!({"name": p.name, "inbox_id": p.inbox_id, "label": p.label(),
                               "tier": p.tier.label(), "skills": skills, "blocked": p.blocked})
                    })
                    .collect();
                Ok(Some(json!({"peers": list})))
            }
            "coworker_skills" => {
                let peer = api.find_peer(&text("peer")?).await?;
                let cards = api.discover(&peer.inbox_id, PEER_WAIT).await?;
                if self.0.pinned.iter().any(|p| *p == peer.name || *p == peer.inbox_id) {
                    self.tell_if_changed(context).await;
                }
                Ok(Some(json!({"peer": peer.name, "skills": cards})))
            }
            "coworker_call" => {
                let peer = api.find_peer(&text("peer")?).await?;
                let input = args.get("input").cloned().unwrap_or_else(|| json!({}));
                Box::pin(self.call(&peer.inbox_id, &text("skill")?, input, context)).await
            }
            "coworker_connect" => {
                let reason = "asked from an MCP host";
                let connected =
                    api.connect(&text("invite")?, Some(Tier::Known), reason, PEER_WAIT).await?;
                let trust = match connected.answer {
                    Some(TrustOutcome::Granted { tier }) => format!("granted: {}", tier.label()),
                    Some(TrustOutcome::Denied { reason }) => format!("denied: {reason}"),
                    Some(TrustOutcome::Pending) | None => {
                        "pending: the peer's owner decides".to_owned()
                    }
                };
                let skills: Vec<&str> =
                    connected.peer.skills.iter().map(|s| s.name.as_str()).collect();
                self.tell_if_changed(context).await;
                Ok(Some(json!({"peer": connected.peer.name, "inbox_id": connected.peer.inbox_id,
                               "online": connected.online, "trust": trust, "skills": skills})))
            }
            "coworker_invite" => {
                let code = api.invite(None).await?;
                let uri = coworker_runtime::protocol::Invite::uri(&code);
                Ok(Some(json!({"code": code, "uri": uri})))
            }
            "coworker_collaborate" => {
                let peer = api.find_peer(&text("peer")?).await?;
                let goal = text("goal")?;
                let okr = Box::pin(self.collaborate(&peer.inbox_id, &goal, context)).await?;
                Ok(Some(json!({"okr": okr})))
            }
            "coworker_task" => {
                let task_id = text("task_id")?;
                Ok(Some(match api.call_result(&task_id, Duration::ZERO).await? {
                    None => json!({"task_id": task_id, "status": "pending"}),
                    Some(Outcome::Completed { output }) => {
                        json!({"task_id": task_id, "status": "completed", "output": output})
                    }
                    Some(Outcome::Failed { code, message }) => json!({"task_id": task_id,
                        "status": "failed", "code": code, "message": message}),
                }))
            }
            _ => Err(HostError::not_found("mcp.tool", format!("no tool {name}"))),
        }
    }

    /// Calls a skill, reporting progress to the host and cancelling at the provider when the
    /// host cancels; `Ok(None)`: cancelled. The value is `{task_id, output, receipt_id,
    /// elapsed_ms}` (the CoWorker call as measured here).
    async fn call(
        &self,
        peer: &str,
        skill: &str,
        input: Value,
        context: &RequestContext<RoleServer>,
    ) -> Result<Option<Value>, HostError> {
        let api = &self.session().await?.api;
        let task_id = new_task_id();
        let options = CallOptions { task_id: Some(task_id.clone()), ..CallOptions::default() };
        let (sink, reports) = mpsc::unbounded_channel();
        let started = std::time::Instant::now();
        let call = Box::pin(api.call(peer, skill, input, options, Some(sink)));
        let done = Box::pin(follow(call, reports, context, &format!("waiting for {skill}"))).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        match done {
            Some(result) => {
                let called = result?;
                let receipt = called.receipt.as_ref().map(|r| r.receipt.id.clone());
                Ok(Some(json!({"task_id": called.task_id, "output": called.output,
                               "receipt_id": receipt, "elapsed_ms": elapsed_ms})))
            }
            None => {
                let _ = api.cancel(peer, &task_id).await;
                Ok(None)
            }
        }
    }

    async fn collaborate(
        &self,
        peer: &str,
        goal: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<Okr, HostError> {
        let api = &self.session().await?.api;
        let (sink, reports) = mpsc::unbounded_channel();
        let work = Box::pin(api.collaborate(peer, goal, Some(sink)));
        match Box::pin(follow(work, reports, context, "working on the goal")).await {
            Some(result) => result,
            None => Err(HostError::new(
                coworker_host::ErrorKind::Failed,
                "mcp.cancelled",
                "the host stopped waiting; the OKR goes on with the peer",
            )),
        }
    }

    async fn tell_if_changed(&self, context: &RequestContext<RoleServer>) {
        if self.0.pinned.is_empty() {
            return;
        }
        if let Ok(true) = self.refresh().await {
            let _ = context.peer.notify_tool_list_changed().await;
        }
    }
}

/// Runs `work`, sending the host a progress notification for each report and a heartbeat at
/// least every [`HEARTBEAT`]; `None` when the host cancels first.
async fn follow<T>(
    work: impl Future<Output = T>,
    mut reports: mpsc::UnboundedReceiver<Progress>,
    context: &RequestContext<RoleServer>,
    waiting: &str,
) -> Option<T> {
    let token = context.meta.get_progress_token();
    let mut sent = 0.0_f64;
    let notify = |count: f64, message: String| {
        let token = token.clone();
        let peer = context.peer.clone();
        async move {
            if let Some(token) = token {
                let param = ProgressNotificationParam::new(token, count).with_message(message);
                let _ = peer.notify_progress(param).await;
            }
        }
    };
    tokio::pin!(work);
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.tick().await;
    loop {
        tokio::select! {
            done = &mut work => return Some(done),
            () = context.ct.cancelled() => return None,
            Some(report) = reports.recv() => {
                sent += 1.0;
                notify(sent, progress_text(&report)).await;
            }
            _ = beat.tick() => {
                sent += 1.0;
                notify(sent, waiting.to_owned()).await;
            }
        }
    }
}

fn progress_text(report: &Progress) -> String {
    match report {
        Progress::Call { percent, text, .. } => format!("{percent}% {text}"),
        Progress::Okr { okr } => {
            let done = okr.steps.iter().filter(|s| s.status == StepStatus::Done).count();
            format!("{done} of {} steps done", okr.steps.len())
        }
    }
}

fn failure_text(e: &HostError) -> String {
    format!("{}: {}", e.peer_code.as_deref().unwrap_or(&e.code), e.message)
}

fn new_task_id() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// `[A-Za-z0-9_-]`, at most [`MAX_TOOL_NAME`] characters: `<peer>_<skill>`.
fn tool_name(peer: &str, skill: &str) -> String {
    let clean = |text: &str, max: usize| -> String {
        text.chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
            .take(max)
            .collect()
    };
    let peer = clean(peer, 16);
    let skill = clean(skill, MAX_TOOL_NAME - peer.len() - 1);
    format!("{peer}_{skill}")
}

/// `name`, or `name` with a number that no tool (nor a meta tool) has yet.
fn unique(name: String, taken: &[PinnedTool]) -> String {
    let meta = meta_tools();
    let used = |n: &str| taken.iter().any(|t| t.tool.name == n) || meta.iter().any(|t| t.name == n);
    if !used(&name) {
        return name;
    }
    (2..)
        .map(|i| {
            let suffix = format!("-{i}");
            let keep = name.len().min(MAX_TOOL_NAME - suffix.len());
            format!("{}{suffix}", &name[..keep])
        })
        .find(|n| !used(n))
        .unwrap_or(name)
}

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

/// A pinned peer's skill as a tool: its input schema, and its output schema (an object output
/// as it is, anything else wrapped as `{"result": …}`).
fn skill_tool(name: &str, peer_name: &str, peer: &str, card: &SkillCard) -> Option<PinnedTool> {
    let input = schema::normalize(&card.input_schema).ok()?;
    if input.get("type").and_then(Value::as_str) != Some("object") {
        return None;
    }
    let output = schema::normalize(&card.output_schema).unwrap_or_else(|_| json!({}));
    let wrapped = output.get("type").and_then(Value::as_str) != Some("object");
    let output = if wrapped {
        json!({"type": "object", "properties": {"result": output}, "required": ["result"]})
    } else {
        output
    };
    let description = format!(
        "{} (skill {} of peer {peer_name}; runs on the peer's side, metered with a signed receipt)",
        card.description, card.name
    );
    let tool = Tool::new(name.to_owned(), description, object(input))
        .with_raw_output_schema(object(output))
        .with_annotations(ToolAnnotations::new().read_only(false).open_world(true));
    Some(PinnedTool { tool, peer: peer.to_owned(), skill: card.name.clone(), wrapped })
}

fn meta_tools() -> Vec<Tool> {
    let tool = |name: &'static str, description: &'static str, input: Value| {
        Tool::new(name, description, object(input))
    };
    let string = |what: &str| json!({"type": "string", "description": what});
    vec![
        tool(
            "coworker_peers",
            "List the peers this agent knows: name, inbox id, the tier we hold them at, and the \
             skills they show us.",
            json!({"type": "object", "properties": {}}),
        ),
        tool(
            "coworker_skills",
            "Ask a peer which skills it shows us now (name, description, input and output JSON \
             Schemas). What a peer shows depends on the tier it holds us at.",
            json!({"type": "object", "properties": {"peer": string("the peer's name or inbox id")},
                   "required": ["peer"]}),
        ),
        tool(
            "coworker_call",
            "Call a skill of a peer with a JSON input that fits its input schema; waits for the \
             output (progress is reported). A hidden or unknown skill is UNKNOWN_SKILL.",
            json!({"type": "object", "properties": {
                "peer": string("the peer's name or inbox id"),
                "skill": string("the skill's name"),
                "input": {"type": "object", "description": "the input, per the skill's schema"}},
                "required": ["peer", "skill", "input"]}),
        ),
        tool(
            "coworker_connect",
            "Accept a peer's invite code and ask it to hold us at KNOWN (it may ask its owner: \
             pending). This tool never asks for more: a higher tier is for humans to grant.",
            json!({"type": "object", "properties": {"invite": string("the invite code or coworker:// link")},
                   "required": ["invite"]}),
        ),
        tool(
            "coworker_invite",
            "This agent's invite code and link, to give to someone who wants to connect.",
            json!({"type": "object", "properties": {}}),
        ),
        tool(
            "coworker_collaborate",
            "Work toward a goal with a peer: plan an OKR from both agents' skills and run it \
             (progress is reported); returns the finished OKR.",
            json!({"type": "object", "properties": {
                "peer": string("the peer's name or inbox id"),
                "goal": string("the goal, in a sentence")},
                "required": ["peer", "goal"]}),
        ),
        tool(
            "coworker_task",
            "The outcome of a call by its task id: pending, completed with its output, or failed \
             with its code.",
            json!({"type": "object", "properties": {"task_id": string("the task id")},
                   "required": ["task_id"]}),
        ),
    ]
}

/// Writes (or prints) the host's configuration entry for `coworker mcp`.
fn install(global: &Global, args: &InstallArgs) -> Result<(), CliError> {
    let program = std::env::current_exe()
        .map_err(|e| CliError::other(format!("where is this program? {e}")))?;
    let mut arguments = Vec::new();
    if let Some(dir) = &global.data_dir {
        arguments.push("--data-dir".to_owned());
        arguments.push(dir.display().to_string());
    }
    if global.app() {
        arguments.extend(["--profile".to_owned(), "app".to_owned()]);
    }
    arguments.push("mcp".to_owned());
    let entry = json!({"command": program.display().to_string(), "args": arguments});
    let home = || {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| CliError::other("HOME is not set"))
    };
    let path = match (args.cursor, args.project) {
        (true, true) => PathBuf::from(".cursor/mcp.json"),
        (true, false) => home()?.join(".cursor/mcp.json"),
        (false, true) => PathBuf::from(".mcp.json"),
        (false, false) => home()?.join(".claude.json"),
    };
    if args.print {
        let config = json!({"mcpServers": {"coworker": entry}});
        println_stdout(&serde_json::to_string_pretty(&config).unwrap_or_default());
        return Ok(());
    }
    write_entry(&path, entry)?;
    println_stdout(&format!("added coworker to {}", path.display()));
    Ok(())
}

#[allow(clippy::print_stdout)]
fn println_stdout(text: &str) {
    println!("{text}");
}

/// Adds `mcpServers.coworker` to the JSON file at `path`, keeping everything else in it.
fn write_entry(path: &Path, entry: Value) -> Result<(), CliError> {
    let mut config = match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str::<Value>(&text).map_err(|e| {
            CliError::invalid(format!("{} is not JSON ({e}); not touching it", path.display()))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(CliError::other(format!("cannot read {}: {e}", path.display()))),
    };
    let Some(root) = config.as_object_mut() else {
        return Err(CliError::invalid(format!("{} is not a JSON object", path.display())));
    };
    let servers = root.entry("mcpServers").or_insert_with(|| json!({}));
    let Some(servers) = servers.as_object_mut() else {
        return Err(CliError::invalid(format!(
            "mcpServers in {} is not an object",
            path.display()
        )));
    };
    servers.insert("coworker".to_owned(), entry);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::other(format!("cannot create {}: {e}", dir.display())))?;
    }
    let text = serde_json::to_string_pretty(&config).unwrap_or_default() + "\n";
    let tmp = path.with_extension("json.coworker-tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| CliError::other(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tool_names_fit_the_hosts_limits_and_stay_unique() {
        let long = "a-very-long-skill-name-that-goes-on-and-on-and-on-forever";
        let name = tool_name("translator bot ü", long);
        assert!(name.len() <= MAX_TOOL_NAME, "{name}");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{name}");
        assert!(name.starts_with("translator_bot__"), "{name}");
        let card: SkillCard =
            serde_json::from_value(json!({"name": "echo", "description": "echoes",
            "input_schema": {"text": "str"}, "output_schema": {"text": "str"}}))
            .unwrap();
        let first = skill_tool("bob_echo", "bob", "ab", &card).unwrap();
        assert_eq!(unique("bob_echo".into(), std::slice::from_ref(&first)), "bob_echo-2");
        assert_eq!(unique("coworker_call".into(), &[]), "coworker_call-2", "meta names reserved");
        assert!(!first.wrapped);
        assert_eq!(first.tool.input_schema.get("type"), Some(&json!("object")));
    }

    #[test]
    fn install_keeps_the_rest_of_the_hosts_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcp.json");
        std::fs::write(&path, r#"{"theme": "dark", "mcpServers": {"other": {"command": "x"}}}"#)
            .unwrap();
        write_entry(&path, json!({"command": "/bin/coworker", "args": ["mcp"]})).unwrap();
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written["theme"], "dark");
        assert_eq!(written["mcpServers"]["other"]["command"], "x");
        assert_eq!(written["mcpServers"]["coworker"]["args"], json!(["mcp"]));
        std::fs::write(&path, "not json").unwrap();
        assert!(write_entry(&path, json!({})).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not json", "left alone");
    }
}
