//! Typed Tauri commands and events: the whole surface the UI can call.
//!
//! Every command here is listed in [`crate::bindings::builder`] (which generates the TypeScript)
//! and in `build.rs` (which generates its `allow-*` permission); the capability file grants the
//! main window exactly these.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use coworker_host::HostError;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, State};
use tauri_specta::Event;

use crate::AppResult;
use crate::activity::{ActivityItem, Overview};
use crate::backend::{AppStatus, Backend, Desktop};
use crate::chat::{ConversationView, MessageView};
use crate::goal::OkrView;
use crate::identity::{InviteInfo, Keys};
use crate::peer::{
    AuditView, CallAnswer, CallView, Connected, InvitePreview, PeerView, TrustRequestView,
};
use crate::receipt::ReceiptView;
use crate::settings::{InstallationView, Settings, SettingsUpdate};
use crate::skill::{McpToolView, MySkillView, NewSkill};

/// The app's version, as built.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Sent to the UI for everything the agent does (the live feed).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct ActivityEvent(pub ActivityItem);

/// Sent to the UI when a `coworker://` link opened the app: the page to show and, for an
/// invite, its code.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct OpenLink {
    /// The page (`invite`).
    pub page: String,
    /// The invite code or link, for the Invite page.
    pub invite: Option<String>,
}

/// Sent to the UI whenever the backend's status changes.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct StatusChanged(pub AppStatus);

/// The backend as managed Tauri state: a cheap handle shared by commands and start-up.
#[derive(Debug, Clone)]
pub struct AppBackend(Arc<Backend>);

impl AppBackend {
    /// A backend over `data_dir` with its keys in `keys` and the embedded node `node`;
    /// call [`AppBackend::start`] once the app is set up.
    pub fn new(
        data_dir: std::path::PathBuf,
        keys: Keys,
        node: crate::identity::EmbeddedNode,
        desktop: Desktop,
    ) -> Self {
        Self(Arc::new(Backend::new(data_dir, keys, node, desktop)))
    }

    /// The backend.
    pub fn backend(&self) -> &Backend {
        &self.0
    }

    /// Runs the start-up sequence and tells the UI how it went.
    pub async fn start(&self, app: &AppHandle) {
        let started = Instant::now();
        let state = self.0.start(started).await;
        let process_ms = crate::process_age().as_secs_f64() * 1000.0;
        tracing::info!(?state, process_ms, "backend start-up finished");
        emit_status(app, self.0.status(VERSION));
    }
}

/// The app's version, data directory and backend state.
#[tauri::command]
#[specta::specta]
pub fn app_status(backend: State<'_, AppBackend>) -> AppStatus {
    backend.0.status(VERSION)
}

/// Runs the backend's health check now and returns the resulting status.
#[tauri::command]
#[specta::specta]
pub async fn check_backend(app: AppHandle) -> AppStatus {
    let backend = app.state::<AppBackend>().inner().clone();
    let before = backend.0.status(VERSION).backend;
    let after = backend.0.check(SystemTime::now()).await;
    let status = backend.0.status(VERSION);
    if before != after {
        emit_status(&app, status.clone());
    }
    status
}

/// Onboarding: creates this app's identity on `network` (`embedded`, `dev`, `production` or a
/// node URL) and starts its agent.
#[tauri::command]
#[specta::specta]
pub async fn create_identity(
    app: AppHandle,
    name: String,
    network: String,
) -> AppResult<AppStatus> {
    let backend = app.state::<AppBackend>().inner().clone();
    backend.0.create_identity(&name, &network).await?;
    let status = backend.0.status(VERSION);
    emit_status(&app, status.clone());
    Ok(status)
}

/// Moves this app's identity to `network` (named as at onboarding); see
/// `Backend::change_network`.
#[tauri::command]
#[specta::specta]
pub async fn change_network(app: AppHandle, network: String) -> AppResult<AppStatus> {
    let backend = app.state::<AppBackend>().inner().clone();
    backend.0.change_network(&network).await?;
    let status = backend.0.status(VERSION);
    emit_status(&app, status.clone());
    Ok(status)
}

/// This app's invite: code, link and QR code.
#[tauri::command]
#[specta::specta]
pub async fn my_invite(backend: State<'_, AppBackend>) -> AppResult<InviteInfo> {
    backend.0.invite().await
}

type Backed<'a> = State<'a, AppBackend>;

/// The recent activity, oldest first (then live through `ActivityEvent`).
#[tauri::command]
#[specta::specta]
pub fn activity(backend: Backed<'_>) -> Vec<ActivityItem> {
    backend.0.activity()
}

/// Counts and what needs attention.
#[tauri::command]
#[specta::specta]
pub async fn overview(backend: Backed<'_>) -> AppResult<Overview> {
    backend.0.overview().await
}

/// Every peer with its badge and skills.
#[tauri::command]
#[specta::specta]
pub async fn peers(backend: Backed<'_>) -> AppResult<Vec<PeerView>> {
    crate::peer::list(&backend.0.agent().await?).await
}

/// Sets a peer's tier (0-3) by hand.
#[tauri::command]
#[specta::specta]
pub async fn set_peer_tier(backend: Backed<'_>, peer: String, tier: u8) -> AppResult<PeerView> {
    crate::peer::set_tier(&backend.0.agent().await?, &peer, tier).await
}

/// Blocks a peer (everything it sends is refused, silently; its tier becomes untrusted) or
/// lifts the block (it stays untrusted).
#[tauri::command]
#[specta::specta]
pub async fn set_peer_blocked(
    backend: Backed<'_>,
    peer: String,
    blocked: bool,
) -> AppResult<PeerView> {
    crate::peer::set_blocked(&backend.0.agent().await?, &peer, blocked).await
}

/// Asks a peer for its skills again.
#[tauri::command]
#[specta::specta]
pub async fn refresh_peer(backend: Backed<'_>, peer: String) -> AppResult<PeerView> {
    crate::peer::refresh(&backend.0.agent().await?, &peer).await
}

/// Trust requests, newest first.
#[tauri::command]
#[specta::specta]
pub async fn trust_requests(
    backend: Backed<'_>,
    pending_only: bool,
) -> AppResult<Vec<TrustRequestView>> {
    crate::peer::requests(&backend.0.agent().await?, pending_only).await
}

/// Approves or denies a trust request.
#[tauri::command]
#[specta::specta]
pub async fn decide_trust_request(backend: Backed<'_>, id: u32, approve: bool) -> AppResult<()> {
    let agent = backend.0.agent().await?;
    agent.decide_trust_request(i64::from(id), approve).await.map_err(HostError::from)
}

/// The audit trail of trust decisions, newest first; one peer's when `peer` is given.
#[tauri::command]
#[specta::specta]
pub async fn audit_log(backend: Backed<'_>, peer: Option<String>) -> AppResult<Vec<AuditView>> {
    crate::peer::audit(&backend.0.agent().await?, peer.as_deref(), 200).await
}

/// Reads an invite code or link without accepting it.
#[tauri::command]
#[specta::specta]
pub async fn preview_invite(backend: Backed<'_>, code: String) -> AppResult<InvitePreview> {
    let now = SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let known = match backend.0.agent().await {
        Ok(agent) => agent.peers().await.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    crate::peer::preview_invite(&code, now, &known)
}

/// Accepts an invite; `ask_tier` asks the peer for that tier.
#[tauri::command]
#[specta::specta]
pub async fn accept_invite(
    backend: Backed<'_>,
    code: String,
    ask_tier: Option<u8>,
) -> AppResult<Connected> {
    crate::peer::connect(&backend.0.agent().await?, &code, ask_tier).await
}

/// Calls a peer's skill with `input` (JSON text).
#[tauri::command]
#[specta::specta]
pub async fn call_skill(
    backend: Backed<'_>,
    peer: String,
    skill: String,
    input: String,
) -> AppResult<CallAnswer> {
    crate::peer::call(&backend.0.agent().await?, &peer, &skill, &input).await
}

/// Checks a call's input against the skill's input schema before it is sent (the checks the
/// peer makes): the problems, none when it may go.
#[tauri::command]
#[specta::specta]
pub fn check_call_input(schema: String, input: String) -> Vec<crate::peer::InputProblem> {
    crate::peer::check_input(&schema, &input)
}

/// Calls this agent made, newest first.
#[tauri::command]
#[specta::specta]
pub async fn calls(backend: Backed<'_>) -> AppResult<Vec<CallView>> {
    crate::peer::calls(&backend.0.agent().await?).await
}

/// DMs and groups.
#[tauri::command]
#[specta::specta]
pub async fn conversations(backend: Backed<'_>) -> AppResult<Vec<ConversationView>> {
    crate::chat::conversations(&backend.0.agent().await?).await
}

/// The last `limit` messages of a conversation, oldest first.
#[tauri::command]
#[specta::specta]
pub async fn messages(
    backend: Backed<'_>,
    conversation: String,
    limit: u32,
) -> AppResult<Vec<MessageView>> {
    crate::chat::messages(&backend.0.agent().await?, &conversation, limit).await
}

/// Sends a chat message.
#[tauri::command]
#[specta::specta]
pub async fn send_message(
    backend: Backed<'_>,
    conversation: String,
    text: String,
) -> AppResult<()> {
    crate::chat::send(&backend.0.agent().await?, &conversation, &text).await
}

/// The DM with a peer: its conversation id.
#[tauri::command]
#[specta::specta]
pub async fn open_dm(backend: Backed<'_>, peer: String) -> AppResult<String> {
    crate::chat::open_dm(&backend.0.agent().await?, &peer).await
}

/// Creates a group; `members` are inbox ids or invite codes. Returns its conversation id.
#[tauri::command]
#[specta::specta]
pub async fn create_group(
    backend: Backed<'_>,
    name: String,
    members: Vec<String>,
) -> AppResult<String> {
    crate::chat::create_group(&backend.0.agent().await?, &name, &members).await
}

/// My skills with visibility and call statistics.
#[tauri::command]
#[specta::specta]
pub async fn my_skills(backend: Backed<'_>) -> AppResult<Vec<MySkillView>> {
    crate::skill::list(&backend.0.agent().await?, backend.0.data_dir()).await
}

/// Shows or hides a skill from peers.
#[tauri::command]
#[specta::specta]
pub async fn set_skill_exposed(backend: Backed<'_>, skill: String, exposed: bool) -> AppResult<()> {
    let agent = backend.0.agent().await?;
    agent.set_exposed(&skill, exposed).await.map_err(HostError::from)
}

/// Changes the lowest tier that may see and call a skill added from the app.
#[tauri::command]
#[specta::specta]
pub async fn set_skill_min_tier(backend: Backed<'_>, skill: String, tier: u8) -> AppResult<()> {
    crate::skill::set_min_tier(&backend.0.agent().await?, backend.0.data_dir(), &skill, tier)
}

/// Adds a command- or MCP-backed skill (hidden until exposed).
#[tauri::command]
#[specta::specta]
pub async fn add_skill(backend: Backed<'_>, skill: NewSkill) -> AppResult<()> {
    crate::skill::add(&backend.0.agent().await?, backend.0.data_dir(), skill)
}

/// The tools a local MCP server offers (it is started to ask, then stopped), to add one as a
/// skill.
#[tauri::command]
#[specta::specta]
pub async fn mcp_tools(command: Vec<String>) -> AppResult<Vec<McpToolView>> {
    crate::skill::mcp_tools(command).await
}

/// Removes a skill added from the app.
#[tauri::command]
#[specta::specta]
pub async fn remove_skill(backend: Backed<'_>, skill: String) -> AppResult<()> {
    crate::skill::remove(&backend.0.agent().await?, backend.0.data_dir(), &skill)
}

/// What a peer at `tier` would see of my skills.
#[tauri::command]
#[specta::specta]
pub async fn preview_skills(
    backend: Backed<'_>,
    tier: u8,
) -> AppResult<Vec<crate::peer::SkillView>> {
    crate::skill::preview(&backend.0.agent().await?, tier)
}

/// Every goal, newest first.
#[tauri::command]
#[specta::specta]
pub async fn goals(backend: Backed<'_>) -> AppResult<Vec<OkrView>> {
    crate::goal::list(&backend.0.agent().await?).await
}

/// Plans a goal with a peer for review (nothing is sent yet).
#[tauri::command]
#[specta::specta]
pub async fn plan_goal(backend: Backed<'_>, peer: String, goal: String) -> AppResult<OkrView> {
    backend.0.plan_goal(&peer, &goal).await
}

/// Starts a reviewed plan.
#[tauri::command]
#[specta::specta]
pub async fn start_goal(backend: Backed<'_>, id: String) -> AppResult<()> {
    backend.0.start_goal(&id).await
}

/// Drops a reviewed plan.
#[tauri::command]
#[specta::specta]
pub fn discard_goal(backend: Backed<'_>, id: String) -> AppResult<()> {
    backend.0.discard_goal(&id)
}

/// Accepts or declines a plan a peer proposed.
#[tauri::command]
#[specta::specta]
pub async fn decide_plan(backend: Backed<'_>, id: String, accept: bool) -> AppResult<OkrView> {
    let agent = backend.0.agent().await?;
    agent.decide_plan(&id, accept).await.map(|o| OkrView::from(&o)).map_err(HostError::from)
}

/// Every receipt, verified.
#[tauri::command]
#[specta::specta]
pub async fn receipts(backend: Backed<'_>) -> AppResult<Vec<ReceiptView>> {
    crate::receipt::list(&backend.0.agent().await?).await
}

/// Writes the receipts as CSV into the Downloads folder; returns the file's path.
#[tauri::command]
#[specta::specta]
pub async fn export_receipts(app: AppHandle) -> AppResult<String> {
    let backend = app.state::<AppBackend>().inner().clone();
    let dir = app.path().download_dir().unwrap_or_else(|_| backend.0.data_dir().join("exports"));
    let now = SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let now = u64::try_from(now).unwrap_or(u64::MAX);
    let path = crate::receipt::export_csv(&backend.0.agent().await?, &dir, now).await?;
    Ok(path.display().to_string())
}

/// The settings.
#[tauri::command]
#[specta::specta]
pub fn settings(backend: Backed<'_>) -> Settings {
    crate::settings::load(backend.0.data_dir(), backend.0.key_store().as_ref())
}

/// Saves the settings (a new planner applies from the next start).
#[tauri::command]
#[specta::specta]
pub fn save_settings(backend: Backed<'_>, update: SettingsUpdate) -> AppResult<Settings> {
    crate::settings::save(backend.0.data_dir(), backend.0.key_store().as_ref(), update)
}

/// This identity's installations.
#[tauri::command]
#[specta::specta]
pub async fn installations(backend: Backed<'_>) -> AppResult<Vec<InstallationView>> {
    crate::settings::installations(&backend.0.agent().await?).await
}

/// Revokes another installation of this identity.
#[tauri::command]
#[specta::specta]
pub async fn revoke_installation(backend: Backed<'_>, id: String) -> AppResult<()> {
    crate::settings::revoke(&backend.0.agent().await?, &id).await
}

/// What the UI learns when it reports being interactive.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct UiReady {
    /// Milliseconds since the process started (the cold-start time, first call).
    pub startup_ms: f64,
    /// A `coworker://` link that opened the app before the UI was listening.
    pub link: Option<String>,
}

/// The UI reports it is interactive: logs the time since the process started (cold start) and
/// takes a link that arrived before it listened.
#[tauri::command]
#[specta::specta]
pub fn ui_ready(pending: State<'_, crate::desktop::PendingLink>) -> UiReady {
    let startup_ms = crate::process_age().as_secs_f64() * 1000.0;
    tracing::info!(startup_ms, "interactive");
    let link = pending.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    UiReady { startup_ms, link }
}

/// Sends an activity item to the UI.
pub fn emit_activity(app: &AppHandle, item: ActivityItem) {
    if let Err(error) = ActivityEvent(item).emit(app) {
        tracing::warn!(%error, "could not send activity to the UI");
    }
}

fn emit_status(app: &AppHandle, status: AppStatus) {
    let text = match &status.backend {
        crate::backend::BackendState::Starting => "starting".to_owned(),
        crate::backend::BackendState::NeedsIdentity => "set up your identity".to_owned(),
        crate::backend::BackendState::Ready => match &status.identity {
            Some(me) => format!("{} on {}", me.name, me.network),
            None => "ready".to_owned(),
        },
        crate::backend::BackendState::Failed { reason } => format!("failed: {reason}"),
    };
    crate::desktop::show_status(app, &text);
    if let Err(error) = StatusChanged(status).emit(app) {
        tracing::warn!(%error, "could not send the status to the UI");
    }
}
