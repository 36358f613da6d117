//! The app backend's state machine, free of Tauri so it can be tested as plain Rust.
//!
//! At start-up the backend prepares its data directory (creates it and proves it is writable),
//! starts the embedded XMTP node on loopback and, when onboarding has happened, opens the
//! identity and starts its agent ([`crate::identity`]). The state is `Starting` until that work
//! is done, then `Ready`, `NeedsIdentity` (onboarding) or `Failed` with a reason meant for
//! people. A health check re-runs the data directory probe on demand.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use coworker_host::HostError;
use coworker_host::approval::Question;
use coworker_runtime::protocol::Okr;
use coworker_runtime::{Agent, AgentEvent};
use serde::{Deserialize, Serialize};

use crate::AppResult;
use crate::activity::{Activity, ActivityItem, Feed, Overview};
use crate::goal::OkrView;
use crate::identity::{self, IdentityInfo, InviteInfo, Keys, Running};
use crate::peer::CallView;
use coworker_notify::{Choice, SharedNotifier};

/// Where the backend sends activity for the UI.
pub type Emit = Arc<dyn Fn(ActivityItem) + Send + Sync>;

/// Brings the window forward at a page (`peers`, `goals`).
pub type Open = Arc<dyn Fn(&str) + Send + Sync>;

/// What the backend talks to on the desktop: the UI's event stream and notifications.
#[derive(Clone)]
pub struct Desktop {
    /// Receives every activity item as it happens.
    pub emit: Emit,
    /// Asks the owner about trust requests and plans.
    pub notifier: SharedNotifier,
    /// Shows a question in the app when its notification is clicked.
    pub open: Open,
}

impl std::fmt::Debug for Desktop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desktop").finish_non_exhaustive()
    }
}

/// Where the backend is in its life cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BackendState {
    /// Start-up work is still running.
    Starting,
    /// The backend runs but there is no identity yet: onboarding creates one.
    NeedsIdentity,
    /// Everything the backend needs is available.
    Ready,
    /// Start-up or a later health check failed.
    Failed {
        /// What went wrong, in one sentence.
        reason: String,
    },
}

/// Everything the status screen shows, as one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct AppStatus {
    /// The app's version (from Cargo).
    pub version: String,
    /// The directory holding the app's data.
    pub data_dir: String,
    /// The backend's state.
    pub backend: BackendState,
    /// How long start-up took, once it has finished.
    pub startup_ms: Option<u32>,
    /// When the last health check finished (milliseconds since the Unix epoch), if one ran.
    pub checked_at_ms: Option<f64>,
    /// This app's identity, once onboarding has happened.
    pub identity: Option<IdentityInfo>,
    /// The embedded node's URL, once it runs.
    pub node_url: Option<String>,
}

/// The backend: its data directory, its current state, the embedded node and the identity.
pub struct Backend {
    data_dir: PathBuf,
    keys: Keys,
    node_setup: identity::EmbeddedNode,
    status: Mutex<Progress>,
    node: tokio::sync::Mutex<Option<xmtp_node::Node>>,
    running: tokio::sync::Mutex<Option<Running>>,
    desktop: Desktop,
    feed: Arc<Feed>,
    /// Plans made for review, not started yet.
    drafts: Mutex<HashMap<String, Okr>>,
    watcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").field("data_dir", &self.data_dir).finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Progress {
    state: BackendState,
    startup_ms: Option<u32>,
    checked_at_ms: Option<f64>,
    identity: Option<IdentityInfo>,
    node_url: Option<String>,
}

impl Backend {
    /// A backend that keeps its data in `data_dir`, its keys in `keys`, runs the embedded node
    /// `node` and reports to `desktop`; not started yet.
    pub fn new(
        data_dir: PathBuf,
        keys: Keys,
        node: identity::EmbeddedNode,
        desktop: Desktop,
    ) -> Self {
        let status = Progress {
            state: BackendState::Starting,
            startup_ms: None,
            checked_at_ms: None,
            identity: None,
            node_url: None,
        };
        Self {
            data_dir,
            keys,
            node_setup: node,
            status: Mutex::new(status),
            node: tokio::sync::Mutex::new(None),
            running: tokio::sync::Mutex::new(None),
            desktop,
            feed: Arc::default(),
            drafts: Mutex::default(),
            watcher: Mutex::default(),
        }
    }

    /// Runs the start-up sequence; `started` is when the app process began its start-up.
    pub async fn start(&self, started: Instant) -> BackendState {
        let state = match self.start_up().await {
            Ok(state) => state,
            Err(error) => BackendState::Failed { reason: error.message },
        };
        let mut status = self.lock();
        status.state = state.clone();
        status.startup_ms = Some(millis(started.elapsed()));
        state
    }

    async fn start_up(&self) -> AppResult<BackendState> {
        prepare_data_dir(&self.data_dir).await?;
        let (url, node) = identity::start_node(&self.node_setup).await?;
        *self.node.lock().await = node;
        self.lock().node_url = Some(url.clone());
        if !identity::exists(&self.data_dir) {
            return Ok(BackendState::NeedsIdentity);
        }
        let running = identity::open(&self.data_dir, &self.keys, &url).await?;
        self.lock().identity = Some(running.info.clone());
        self.watch(running.agent.clone());
        *self.running.lock().await = Some(running);
        Ok(BackendState::Ready)
    }

    /// Onboarding: creates the identity on `network` (`embedded`, `dev`, `production` or a
    /// URL) and starts its agent.
    pub async fn create_identity(&self, name: &str, network: &str) -> AppResult<()> {
        let url = {
            let status = self.lock();
            match (&status.state, &status.node_url) {
                (BackendState::NeedsIdentity, Some(url)) => url.clone(),
                (BackendState::Ready, _) => {
                    return Err(HostError::failed(
                        "app.has_identity",
                        "this app already has an identity",
                    ));
                }
                _ => {
                    return Err(HostError::failed(
                        "app.not_ready",
                        "the app is not ready for onboarding",
                    ));
                }
            }
        };
        let mut running = self.running.lock().await;
        let created = identity::create(&self.data_dir, &self.keys, &url, name, network).await?;
        self.watch(created.agent.clone());
        let mut status = self.lock();
        status.identity = Some(created.info.clone());
        status.state = BackendState::Ready;
        *running = Some(created);
        Ok(())
    }

    /// Moves the identity to `network` (as at onboarding): its agent stops, and starts again
    /// there with that network's conversations (registering it if it is new there); peers,
    /// trust, skills, receipts and settings stay. When `network` cannot be reached the
    /// identity goes on where it was and the error says why.
    pub async fn change_network(&self, network: &str) -> AppResult<IdentityInfo> {
        let url = self.lock().node_url.clone();
        let Some(url) = url else {
            return Err(HostError::failed("app.not_ready", "the app is still starting"));
        };
        if identity::is_on(&self.data_dir, network)? {
            return Err(HostError::invalid(
                "app.same_network",
                format!("this identity is already on {}", network.trim()),
            ));
        }
        let mut running = self.running.lock().await;
        let Some(current) = running.take() else {
            return Err(HostError::not_found("app.no_identity", "create your identity first"));
        };
        current.stop().await;
        let moved = match identity::open_on(&self.data_dir, &self.keys, &url, network).await {
            Ok(moved) => moved,
            Err(e) => {
                tracing::warn!(code = %e.code, "moving the identity failed: {e}");
                let back = identity::open(&self.data_dir, &self.keys, &url).await?;
                self.watch(back.agent.clone());
                *running = Some(back);
                return Err(e);
            }
        };
        self.watch(moved.agent.clone());
        let info = moved.info.clone();
        self.lock().identity = Some(info.clone());
        *running = Some(moved);
        Ok(info)
    }

    /// This app's invite.
    pub async fn invite(&self) -> AppResult<InviteInfo> {
        match self.running.lock().await.as_ref() {
            Some(running) => running.invite(),
            None => Err(HostError::not_found("app.no_identity", "create your identity first")),
        }
    }

    /// The running agent (after onboarding).
    pub async fn agent(&self) -> AppResult<Agent> {
        match self.running.lock().await.as_ref() {
            Some(running) => Ok(running.agent.clone()),
            None => Err(HostError::not_found("app.no_identity", "create your identity first")),
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The key store of this data directory (OS keychain in the app).
    pub fn key_store(&self) -> Arc<dyn coworker_host::keys::KeyStore> {
        (self.keys)(self.data_dir.clone())
    }

    /// The recent activity, oldest first.
    pub fn activity(&self) -> Vec<ActivityItem> {
        self.feed.items()
    }

    /// Counts and what needs attention, for the Home page.
    pub async fn overview(&self) -> AppResult<Overview> {
        let agent = self.agent().await?;
        let me = agent.inbox_id().to_owned();
        let skills = agent.skills();
        let calls = agent.calls().await.map_err(HostError::from)?;
        let receipts = agent.receipts().await.map_err(HostError::from)?;
        let okrs = agent.okrs().await.map_err(HostError::from)?;
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let mut failed: Vec<CallView> =
            calls.iter().filter(|c| c.status.is_failed()).map(CallView::from).collect();
        failed.sort_by(|a, b| b.created_ms.total_cmp(&a.created_ms));
        failed.truncate(10);
        Ok(Overview {
            peers: count(agent.peers().await.map_err(HostError::from)?.len()),
            skills: count(skills.len()),
            skills_exposed: count(skills.iter().filter(|(_, shown)| *shown).count()),
            calls_made: count(calls.len()),
            calls_served: count(receipts.iter().filter(|r| r.receipt.provider == me).count()),
            goals_running: count(
                okrs.iter()
                    .filter(|o| o.status == coworker_runtime::protocol::okr::OkrStatus::Running)
                    .count(),
            ),
            pending_requests: crate::peer::requests(&agent, true).await?,
            pending_plans: okrs
                .iter()
                .filter(|o| {
                    o.initiator != me
                        && o.status == coworker_runtime::protocol::okr::OkrStatus::Proposed
                })
                .map(OkrView::from)
                .collect(),
            failed_calls: failed,
        })
    }

    /// Plans a goal with a peer for review; nothing is sent until [`Backend::start_goal`].
    pub async fn plan_goal(&self, peer: &str, goal: &str) -> AppResult<OkrView> {
        let goal = goal.trim();
        if goal.is_empty() {
            return Err(HostError::invalid("goal.empty", "describe the goal first"));
        }
        let agent = self.agent().await?;
        let okr = agent.plan_goal(peer, goal).await.map_err(HostError::from)?;
        let view = OkrView::from(&okr);
        self.drafts().insert(okr.id.clone(), okr);
        Ok(view)
    }

    /// Starts a reviewed plan: proposes it to the peer and runs it in the background; the board
    /// follows it through OKR events.
    pub async fn start_goal(&self, id: &str) -> AppResult<()> {
        let agent = self.agent().await?;
        let okr = self.drafts().remove(id).ok_or_else(|| {
            HostError::not_found("goal.no_plan", format!("no plan {id} to start"))
        })?;
        tokio::spawn(async move {
            if let Err(e) = agent.start_okr(okr).await {
                tracing::warn!("the goal stopped: {e}");
            }
        });
        Ok(())
    }

    /// Drops a reviewed plan.
    pub fn discard_goal(&self, id: &str) -> AppResult<()> {
        self.drafts()
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| HostError::not_found("goal.no_plan", format!("no plan {id} to discard")))
    }

    fn drafts(&self) -> MutexGuard<'_, HashMap<String, Okr>> {
        self.drafts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forwards the agent's events to the feed, the UI and, for questions to the owner, to
    /// desktop notifications.
    fn watch(&self, agent: Agent) {
        let mut events = agent.subscribe();
        let desktop = self.desktop.clone();
        let feed = Arc::clone(&self.feed);
        let data_dir = self.data_dir.clone();
        let open = OpenQuestions::default();
        let task = tokio::spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "the activity feed fell behind");
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                ask_owner(&agent, &desktop, &open, &data_dir, &event).await;
                let item = ActivityItem {
                    at_ms: epoch_millis(SystemTime::now()),
                    event: Activity::from(&event),
                };
                feed.push(item.clone());
                (desktop.emit)(item);
            }
        });
        let old = self.watcher.lock().unwrap_or_else(PoisonError::into_inner).replace(task);
        if let Some(old) = old {
            old.abort();
        }
    }

    /// Stops the agent and the embedded node.
    pub async fn stop(&self) {
        if let Some(task) = self.watcher.lock().unwrap_or_else(PoisonError::into_inner).take() {
            task.abort();
        }
        if let Some(running) = self.running.lock().await.take() {
            running.stop().await;
        }
        if let Some(node) = self.node.lock().await.take() {
            let _ = node.shutdown().await;
        }
    }

    /// Re-runs the data directory probe at `now` and moves the state to its result. A backend
    /// still starting stays `Starting`.
    pub async fn check(&self, now: SystemTime) -> BackendState {
        let probed = match probe_writable(&self.data_dir).await {
            Ok(()) => BackendState::Ready,
            Err(error) => BackendState::Failed { reason: error.message },
        };
        let mut status = self.lock();
        let healthy = match (status.identity.is_some(), status.node_url.is_some()) {
            (true, _) => BackendState::Ready,
            (false, true) => BackendState::NeedsIdentity,
            // Start-up failed before the node ran: a healthy directory does not undo that.
            (false, false) => status.state.clone(),
        };
        if status.state != BackendState::Starting {
            status.state = match probed {
                BackendState::Ready => healthy,
                failed => failed,
            };
        }
        status.checked_at_ms = Some(epoch_millis(now));
        status.state.clone()
    }

    /// A snapshot for the UI; `version` is the app's version.
    pub fn status(&self, version: &str) -> AppStatus {
        let status = self.lock();
        AppStatus {
            version: version.to_owned(),
            data_dir: self.data_dir.display().to_string(),
            backend: status.state.clone(),
            startup_ms: status.startup_ms,
            checked_at_ms: status.checked_at_ms,
            identity: status.identity.clone(),
            node_url: status.node_url.clone(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        // The guarded data is plain values that are always left consistent, so a panic in
        // another holder cannot have broken it.
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The questions open as notifications: one per peer and kind at most, and at most
/// [`MAX_OPEN_QUESTIONS`] in all. A flood of requests cannot bury the desktop in notifications
/// (nor in the threads that wait for their clicks); the rest wait in the app.
#[derive(Debug, Default, Clone)]
struct OpenQuestions(Arc<Mutex<HashSet<String>>>);

/// Notifications asking the owner something, open at once.
const MAX_OPEN_QUESTIONS: usize = 4;

impl OpenQuestions {
    /// Claims the slot for `key`; `None` if that question is already open or too many are.
    fn claim(&self, key: String) -> Option<Claimed> {
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if open.len() >= MAX_OPEN_QUESTIONS || !open.insert(key.clone()) {
            return None;
        }
        Some(Claimed { open: self.clone(), key })
    }
}

/// An open question's slot, freed when the notification is answered, closed or lost.
struct Claimed {
    open: OpenQuestions,
    key: String,
}

impl Drop for Claimed {
    fn drop(&mut self) {
        self.open.0.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.key);
    }
}

/// Puts trust requests and plan proposals to the owner as notifications (when the settings
/// allow); the answer takes effect at once. A peer is named by the name the owner accepted,
/// or by its own name marked unverified, always with 24 hex digits of its inbox id.
async fn ask_owner(
    agent: &Agent,
    desktop: &Desktop,
    open: &OpenQuestions,
    data_dir: &Path,
    event: &AgentEvent,
) {
    if !matches!(event, AgentEvent::TrustRequested(_) | AgentEvent::PlanProposed(_)) {
        return;
    }
    let (notify_trust, notify_plans) = crate::settings::notifications(data_dir);
    let Some(question) = Question::of(agent, event).await else { return };
    let (key, wanted, page) = match &question {
        Question::Trust { peer, .. } => (format!("trust:{peer}"), notify_trust, "peers"),
        Question::Plan { peer, .. } => (format!("plan:{peer}"), notify_plans, "goals"),
    };
    if !wanted {
        return;
    }
    let Some(claimed) = open.claim(key) else { return };
    let runtime = tokio::runtime::Handle::current();
    let agent = agent.clone();
    let (summary, body) = (question.headline(), question.detail());
    let open = Arc::clone(&desktop.open);
    desktop.notifier.ask(
        &summary,
        &body,
        Box::new(move |choice| {
            let _claimed = claimed;
            let approve = match choice {
                Choice::Approve => true,
                Choice::Deny => false,
                // The question stays open in the app, where the click brings the owner.
                Choice::Open => return open(page),
                Choice::Dismissed => return,
            };
            runtime.spawn(async move {
                if let Err(e) = question.answer(&agent, approve).await {
                    tracing::warn!("the decision from the notification failed: {e}");
                }
            });
        }),
    );
}

/// Creates the data directory if needed and proves that it is writable.
async fn prepare_data_dir(dir: &Path) -> AppResult<()> {
    // The owner's alone: 0700, with the databases and settings in it 0600.
    let warnings = coworker_runtime::private::data_dir(dir).map_err(|error| {
        HostError::failed(
            "app.data_dir",
            format!("cannot create the data directory {}: {error}", dir.display()),
        )
    })?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    probe_writable(dir).await
}

/// Writes, syncs and removes a probe file in `dir`.
async fn probe_writable(dir: &Path) -> AppResult<()> {
    let probe = dir.join(".write-probe");
    let result = async {
        let mut file = tokio::fs::File::create(&probe).await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, b"ok").await?;
        file.sync_all().await?;
        tokio::fs::remove_file(&probe).await
    }
    .await;
    result.map_err(|error| {
        HostError::failed(
            "app.data_dir",
            format!("the data directory {} is not writable: {error}", dir.display()),
        )
    })
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

fn epoch_millis(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coworker_host::keys::{KeyStore, MemoryKeyStore};
    use std::net::SocketAddr;
    use std::sync::Arc;

    fn keys() -> Keys {
        let store = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
        Arc::new(move |_: PathBuf| Arc::clone(&store))
    }

    fn quiet() -> Desktop {
        Desktop {
            emit: Arc::new(|_| {}),
            notifier: Arc::new(coworker_notify::Silent),
            open: Arc::new(|_| {}),
        }
    }

    fn embedded(dir: &Path) -> identity::EmbeddedNode {
        identity::EmbeddedNode {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: dir.join("node").join("node.db"),
        }
    }

    fn backend_with(dir: PathBuf, keys: Keys) -> Backend {
        let node = embedded(dir.parent().unwrap_or(&dir));
        Backend::new(dir, keys, node, quiet())
    }

    /// Records the questions put to the owner; the test answers them.
    #[derive(Default)]
    struct Asked(Mutex<Vec<(String, Option<coworker_notify::Answer>)>>);

    impl coworker_notify::Notifier for Asked {
        fn ask(&self, summary: &str, _body: &str, answer: coworker_notify::Answer) {
            self.0.lock().unwrap().push((summary.to_owned(), Some(answer)));
        }
    }

    /// The app (onboarded as "ada", its notifications recorded) and a plain agent "bob" on the
    /// app's embedded node, serving, each holding the other's invite.
    struct AppAndPeer {
        backend: Backend,
        asked: Arc<Asked>,
        emitted: Arc<Mutex<Vec<ActivityItem>>>,
        opened: Arc<Mutex<Vec<String>>>,
        ada: Agent,
        bob: Agent,
        _bob: coworker_host::identity::Held,
        keys: Keys,
        _root: tempfile::TempDir,
    }

    async fn app_and_peer() -> AppAndPeer {
        let root = tempfile::tempdir().unwrap();
        let asked = Arc::new(Asked::default());
        let emitted = Arc::new(Mutex::new(Vec::<ActivityItem>::new()));
        let opened = Arc::new(Mutex::new(Vec::<String>::new()));
        let desktop = Desktop {
            emit: Arc::new({
                let emitted = Arc::clone(&emitted);
                move |item| emitted.lock().unwrap().push(item)
            }),
            notifier: Arc::clone(&asked) as SharedNotifier,
            open: Arc::new({
                let opened = Arc::clone(&opened);
                move |page: &str| opened.lock().unwrap().push(page.to_owned())
            }),
        };
        let app_keys = keys();
        let backend = Backend::new(
            root.path().join("app"),
            Arc::clone(&app_keys),
            embedded(root.path()),
            desktop,
        );
        backend.start(Instant::now()).await;
        backend.create_identity("ada", "embedded").await.unwrap();
        let ada = backend.agent().await.unwrap();

        let url = backend.status("0").node_url.unwrap();
        let bob_keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
        let network = coworker_host::network::Network::Url(url);
        let bob_dir = root.path().join("bob");
        let identity =
            coworker_host::identity::Identity::new("bob", &bob_dir, network, "embedded", bob_keys);
        let held = identity.open().await.unwrap().serve().await.unwrap();
        let bob = held.agent.clone();
        bob.add_peer(&backend.invite().await.unwrap().code).await.unwrap();
        ada.add_peer(&bob.invite(None).unwrap()).await.unwrap();
        AppAndPeer {
            backend,
            asked,
            emitted,
            opened,
            ada,
            bob,
            _bob: held,
            keys: app_keys,
            _root: root,
        }
    }

    impl AppAndPeer {
        /// Waits for the first question put to the owner; returns its summary and answer.
        async fn question(&self) -> (String, coworker_notify::Answer) {
            for _ in 0..500 {
                if let Some((summary, answer)) = self.asked.0.lock().unwrap().first_mut() {
                    return (summary.clone(), answer.take().unwrap());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("no notification");
        }
    }

    /// Registers an exposed KNOWN skill that answers `{output: <its input as text>}`.
    fn register(agent: &Agent, name: &str, when: &str, input: &str, output: &'static str) {
        use coworker_runtime::protocol::skill::SkillSpec;
        use coworker_runtime::protocol::trust::Tier;
        let mut spec = SkillSpec::new(name, &format!("{name} skill"));
        spec.when_to_use = when.into();
        spec.input_schema = serde_json::json!({ input: "str" });
        spec.output_schema = serde_json::json!({ output: "str" });
        spec.min_tier = Tier::Known;
        let handler =
            coworker_runtime::Handler::function(move |v: serde_json::Value, _| async move {
                Ok(serde_json::json!({ output: v.to_string() }))
            });
        agent.register(spec, handler, true).unwrap();
    }

    #[tokio::test]
    async fn a_trust_request_becomes_a_notification_whose_approve_action_grants_it() {
        use coworker_runtime::protocol::trust::Tier;
        let t = app_and_peer().await;
        let (ada, bob) = (&t.ada, &t.bob);
        let wait = Duration::from_millis(300);
        let _pending = bob.request_trust(ada.inbox_id(), Tier::Known, "let us work", wait).await;

        let (summary, answer) = t.question().await;
        let fingerprint = coworker_runtime::fingerprint(bob.inbox_id());
        assert_eq!(summary, format!("bob ({fingerprint}) asks for known access"));
        assert_eq!(
            ada.tier(bob.inbox_id()).await.unwrap(),
            Tier::Untrusted,
            "not before the click"
        );
        answer(Choice::Approve);
        for _ in 0..250 {
            if ada.tier(bob.inbox_id()).await.unwrap() == Tier::Known {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(ada.tier(bob.inbox_id()).await.unwrap(), Tier::Known);
        let overview = t.backend.overview().await.unwrap();
        assert!(overview.pending_requests.is_empty(), "{overview:?}");
        for _ in 0..100 {
            if t.backend.activity().iter().any(|i| matches!(i.event, Activity::TrustChanged { .. }))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let feed = t.backend.activity();
        assert!(
            feed.iter().any(|i| matches!(i.event, Activity::TrustRequested { .. })),
            "{feed:?}"
        );
        assert!(feed.iter().any(|i| matches!(i.event, Activity::TrustChanged { tier: 1, .. })));
        assert_eq!(t.emitted.lock().unwrap().len(), feed.len(), "the UI got every item");
        t.backend.stop().await;
    }

    #[tokio::test]
    async fn clicking_the_notification_opens_the_request_in_the_app_and_decides_nothing() {
        use coworker_runtime::protocol::trust::Tier;
        let t = app_and_peer().await;
        let (ada, bob) = (&t.ada, &t.bob);
        let wait = Duration::from_millis(300);
        let _pending = bob.request_trust(ada.inbox_id(), Tier::Known, "let us work", wait).await;
        let (_, answer) = t.question().await;
        answer(Choice::Open);
        assert_eq!(*t.opened.lock().unwrap(), ["peers"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(ada.trust_requests(true).await.unwrap().len(), 1, "still the owner's to decide");
        assert_eq!(ada.tier(bob.inbox_id()).await.unwrap(), Tier::Untrusted);
        t.backend.stop().await;
    }

    #[tokio::test]
    async fn a_flood_of_trust_requests_opens_one_notification() {
        use coworker_runtime::protocol::trust::Tier;
        let t = app_and_peer().await;
        let (ada, bob) = (&t.ada, &t.bob);
        let wait = Duration::from_millis(50);
        for tier in [Tier::Known, Tier::Internal, Tier::Privileged, Tier::Known, Tier::Internal] {
            let _ = bob.request_trust(ada.inbox_id(), tier, "again", wait).await;
        }
        let (_, answer) = t.question().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(t.asked.0.lock().unwrap().len(), 1, "one open question per peer");
        let pending = ada.trust_requests(true).await.unwrap();
        assert_eq!(pending.len(), 1, "a new request replaces the last: {pending:?}");
        answer(Choice::Deny);
        for _ in 0..250 {
            if ada.trust_requests(true).await.unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(ada.trust_requests(true).await.unwrap().is_empty(), "Deny decided the latest");
        assert_eq!(ada.tier(bob.inbox_id()).await.unwrap(), Tier::Untrusted);
        t.backend.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_apps_agent_is_served_to_other_front_ends() {
        use coworker_host::{Api, ErrorKind, control::ControlClient, lock::DataDirLock};
        use coworker_runtime::protocol::trust::Tier;
        let t = app_and_peer().await;
        let (ada, bob) = (&t.ada, &t.bob);
        let data_dir = t.backend.data_dir().to_owned();
        // No second host for the app's identity (a `coworker host` on its directory).
        let busy = DataDirLock::take(&data_dir).unwrap_err();
        assert_eq!(busy.kind, ErrorKind::Busy);
        // `coworker --profile app …`: a client of the running app's agent.
        let client =
            ControlClient::connect(&data_dir, "cli").await.unwrap().expect("the app hosts");
        assert_eq!(client.welcome().name, "ada");
        let api = Api::Remote(client);
        assert_eq!(api.status().await.unwrap().inbox_id, ada.inbox_id());
        // Bob asks; the owner approves from another front end instead of the notification.
        let asking = tokio::spawn({
            let (bob, ada) = (bob.clone(), ada.inbox_id().to_owned());
            async move { bob.request_trust(&ada, Tier::Known, "tests", Duration::from_secs(20)).await }
        });
        let _ = t.question().await;
        let pending = api.trust_requests(true).await.unwrap();
        assert_eq!(pending.len(), 1, "{pending:?}");
        api.decide_trust_request(pending[0].id, true).await.unwrap();
        assert!(asking.await.unwrap().unwrap().granted);
        assert_eq!(ada.tier(bob.inbox_id()).await.unwrap(), Tier::Known);
        // The app's own feed shows what the other front end did.
        let approved = |item: &ActivityItem| matches!(&item.event, Activity::TrustChanged { tier: 1, why, .. } if why == "approved");
        for _ in 0..250 {
            if t.emitted.lock().unwrap().iter().any(approved) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let feed = t.emitted.lock().unwrap().clone();
        assert!(feed.iter().any(approved), "{feed:?}");
        t.backend.stop().await;
        assert!(
            ControlClient::connect(&data_dir, "cli").await.unwrap().is_none(),
            "socket removed"
        );
    }

    #[tokio::test]
    async fn a_plan_proposal_waits_for_the_notification_and_accept_runs_it() {
        use coworker_runtime::protocol::okr::OkrStatus;
        use coworker_runtime::protocol::trust::Tier;
        let t = app_and_peer().await;
        let (ada, bob) = (&t.ada, &t.bob);
        register(bob, "search", "search sources for a topic", "query", "text");
        register(ada, "summarize", "summarize text", "text", "summary");
        ada.set_tier(bob.inbox_id(), Tier::Known).await.unwrap();
        bob.set_tier(ada.inbox_id(), Tier::Internal).await.unwrap();

        let plan = bob.plan_goal(ada.inbox_id(), "search rust and summarize it").await.unwrap();
        let starting = tokio::spawn({
            let (bob, plan) = (bob.clone(), plan.clone());
            async move { bob.start_okr(plan).await }
        });
        let (summary, answer) = t.question().await;
        let fingerprint = coworker_runtime::fingerprint(bob.inbox_id());
        assert_eq!(summary, format!("bob ({fingerprint}) proposes a plan"));
        let waiting = t.backend.overview().await.unwrap();
        assert_eq!(waiting.pending_plans.len(), 1, "{waiting:?}");
        assert!(!starting.is_finished(), "the plan waits for the owner");

        answer(Choice::Approve);
        let done = tokio::time::timeout(Duration::from_secs(20), starting).await.unwrap();
        let done = done.unwrap().unwrap();
        assert_eq!(done.status, OkrStatus::Completed, "{done:#?}");
        assert_eq!(bob.tier(ada.inbox_id()).await.unwrap(), Tier::Known, "stepped down");
        assert!(t.backend.overview().await.unwrap().pending_plans.is_empty());
        t.backend.stop().await;
    }

    fn backend(dir: PathBuf) -> Backend {
        backend_with(dir, keys())
    }

    #[tokio::test]
    async fn start_creates_a_missing_data_dir_and_waits_for_onboarding() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("nested").join("coworker");
        let backend = backend(dir.clone());
        assert_eq!(backend.status("1.2.3").backend, BackendState::Starting);

        assert_eq!(backend.start(Instant::now()).await, BackendState::NeedsIdentity);
        assert!(dir.is_dir());
        assert!(!dir.join(".write-probe").exists(), "the probe file must be cleaned up");
        let status = backend.status("1.2.3");
        assert_eq!(status.version, "1.2.3");
        assert_eq!(status.data_dir, dir.display().to_string());
        assert!(status.startup_ms.is_some());
        assert_eq!(status.checked_at_ms, None);
    }

    #[tokio::test]
    async fn start_fails_with_a_reason_when_the_data_dir_is_a_file() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let state = backend(file.clone()).start(Instant::now()).await;
        let BackendState::Failed { reason } = state else { panic!("expected failure: {state:?}") };
        assert!(reason.contains("cannot create the data directory"), "{reason}");
        assert!(reason.contains(&file.display().to_string()), "{reason}");
    }

    #[tokio::test]
    async fn check_follows_the_data_dir_going_away_and_coming_back() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        let backend = backend(dir.clone());
        backend.start(Instant::now()).await;

        std::fs::remove_dir_all(&dir).unwrap();
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let state = backend.check(now).await;
        assert!(matches!(state, BackendState::Failed { .. }), "{state:?}");
        assert_eq!(backend.status("0").checked_at_ms, Some(1_700_000_000_123.0));

        std::fs::create_dir(&dir).unwrap();
        assert_eq!(backend.check(now).await, BackendState::NeedsIdentity, "still to onboard");
        backend.stop().await;
    }

    #[tokio::test]
    async fn onboarding_creates_an_identity_that_a_restart_reopens() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("app");
        let keys = keys();
        let backend = backend_with(dir.clone(), Arc::clone(&keys));
        assert_eq!(backend.start(Instant::now()).await, BackendState::NeedsIdentity);
        assert!(backend.status("0").node_url.unwrap().starts_with("http://127.0.0.1:"));
        assert!(backend.invite().await.is_err(), "no invite before onboarding");
        assert_eq!(
            backend.create_identity("  ", "embedded").await.unwrap_err().message,
            "choose a name"
        );
        backend.create_identity("ada", "embedded").await.unwrap();
        let status = backend.status("0");
        assert_eq!(status.backend, BackendState::Ready);
        let me = status.identity.unwrap();
        assert_eq!((me.name.as_str(), me.network.as_str()), ("ada", "embedded"));
        let invite = backend.invite().await.unwrap();
        assert!(invite.uri.starts_with("coworker://invite/"));
        assert!(invite.qr_svg.starts_with("<svg"));
        assert!(invite.short_id.starts_with("ada-"));
        assert!(backend.create_identity("again", "embedded").await.is_err());
        backend.stop().await;

        let again = backend_with(dir, keys);
        assert_eq!(again.start(Instant::now()).await, BackendState::Ready);
        assert_eq!(again.status("0").identity.unwrap().inbox_id, me.inbox_id);
        again.stop().await;
    }

    #[tokio::test]
    async fn onboarding_on_an_unreachable_network_fails_and_can_be_retried() {
        let root = tempfile::tempdir().unwrap();
        let backend = backend(root.path().join("app"));
        backend.start(Instant::now()).await;
        let err = backend.create_identity("ada", "http://127.0.0.1:9").await.unwrap_err();
        assert!(err.message.contains("cannot reach"), "{err}");
        assert_eq!(err.kind, coworker_host::ErrorKind::Unreachable, "{err:?}");
        assert_eq!(backend.status("0").backend, BackendState::NeedsIdentity);
        backend.create_identity("ada", "embedded").await.unwrap();
        backend.stop().await;
    }

    /// Settings moves the identity to another network (here another node, reached as a d14n
    /// gateway) and back: the same inbox, its peers kept, each network's conversations its own;
    /// an unreachable network changes nothing; a restart opens where it was left.
    #[tokio::test]
    async fn the_identity_moves_to_another_network_and_back() {
        let t = app_and_peer().await;
        let root = t._root.path();
        let before = t.backend.status("0").identity.unwrap();
        let other =
            xmtp_node::start(xmtp_node::NodeConfig::local(root.join("other.db"))).await.unwrap();
        let gateway = format!("gateway:{}", other.url());

        let err = t.backend.change_network("http://127.0.0.1:9").await.unwrap_err();
        assert_eq!(err.kind, coworker_host::ErrorKind::Unreachable, "{err:?}");
        assert_eq!(t.backend.status("0").identity.unwrap().network, "embedded");
        let ada = t.backend.agent().await.unwrap();
        ada.ping(t.bob.inbox_id()).await.expect("still on the embedded network");
        let same = t.backend.change_network(" embedded ").await.unwrap_err();
        assert_eq!(same.code, "app.same_network");

        let moved = t.backend.change_network(&gateway).await.unwrap();
        assert_eq!(
            (moved.inbox_id.as_str(), moved.network.as_str()),
            (before.inbox_id.as_str(), gateway.as_str())
        );
        assert_eq!(t.backend.status("0").identity.unwrap(), moved);
        let ada = t.backend.agent().await.unwrap();
        assert_eq!(ada.peers().await.unwrap().len(), 1, "peers stay");
        assert!(ada.client().conversations().await.unwrap().is_empty(), "a new network's own");
        // Someone on the other network reaches the moved identity through its new invite.
        let carol_keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
        let network = coworker_host::network::Network::Url(other.url().to_owned());
        let carol = coworker_host::identity::Identity::new(
            "carol",
            &root.join("carol"),
            network,
            "other",
            carol_keys,
        );
        let carol = carol.open().await.unwrap().serve().await.unwrap();
        let invite = t.backend.invite().await.unwrap().code;
        carol.agent.add_peer(&invite).await.unwrap();
        carol.agent.ping(&before.inbox_id).await.expect("carol reaches ada on the other network");
        assert!(ada.ping(t.bob.inbox_id()).await.is_err(), "bob is not on this network");

        let back = t.backend.change_network("embedded").await.unwrap();
        assert_eq!(back.network, "embedded");
        let ada = t.backend.agent().await.unwrap();
        ada.ping(t.bob.inbox_id()).await.expect("bob again, in the same conversation");
        let dir = root.join("app");
        assert!(dir.join("xmtp.db").exists());
        let slug: String =
            gateway.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        assert!(dir.join(format!("xmtp-{slug}.db")).exists(), "the other network's database");

        t.backend.change_network(&gateway).await.unwrap();
        t.backend.stop().await;
        let again = backend_with(dir, Arc::clone(&t.keys));
        assert_eq!(again.start(Instant::now()).await, BackendState::Ready);
        assert_eq!(
            again.status("0").identity.unwrap().network,
            gateway,
            "opened where it was left"
        );
        again.stop().await;
        carol.stop().await;
        other.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn check_before_start_up_finishes_stays_starting() {
        let root = tempfile::tempdir().unwrap();
        let backend = backend(root.path().to_owned());
        assert_eq!(backend.check(SystemTime::now()).await, BackendState::Starting);
    }

    #[test]
    fn states_serialize_with_a_state_tag() {
        let failed = BackendState::Failed { reason: "disk full".into() };
        let json = serde_json::to_value(failed).unwrap();
        assert_eq!(json, serde_json::json!({"state": "failed", "reason": "disk full"}));
        let ready = serde_json::to_value(BackendState::Ready).unwrap();
        assert_eq!(ready, serde_json::json!({"state": "ready"}));
    }
}
