//! The [`Agent`]: configuration, skills and their visibility, trust administration, events, and
//! the intake loop that turns XMTP messages into protocol actions.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use coworker_protocol::envelope::{self, Envelope, kind};
use coworker_protocol::trust::{self, Tier};
use coworker_protocol::{Decision, Sender, Skill, SkillCard, SkillSpec};
use rand::RngCore;
use serde::Serialize;
use tokio::sync::{Semaphore, broadcast, oneshot};
use xmtp_client::{Client, Clock, ConversationId, Event, Message, SystemClock};

use crate::store::ReplyTo;
use coworker_protocol::envelope::TaskResult;

use crate::error::{Result, RuntimeError};
use crate::handler::Handler;
use crate::quota::Quota;
use crate::store::{AuditEntry, Peer, PeerState, Store, TrustRequestRecord};

/// Makes the ids the runtime needs (task, correlation, receipt, OKR ids).
pub trait Ids: Send + Sync + std::fmt::Debug {
    /// A new UUID (v4 form).
    fn uuid(&self) -> String;
}

/// Random UUIDv4s from the OS.
#[derive(Debug, Default)]
pub struct RandomIds;

impl Ids for RandomIds {
    fn uuid(&self) -> String {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        format_uuid(bytes)
    }
}

/// Formats 16 bytes as a version-4 UUID.
pub fn format_uuid(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// How an agent runs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Display name sent in envelopes (informational).
    pub name: String,
    /// The runtime's SQLite database (created if missing).
    pub database: PathBuf,
    /// Highest tier a trust request is granted without a human (`None`: nothing is).
    pub auto_grant_ceiling: Option<Tier>,
    /// Skill executions at once; more wait for a slot within their deadline.
    pub max_concurrent_tasks: usize,
    /// Deadline for a skill execution and default wait for a call's answer.
    pub deadline: Duration,
    /// Wall-clock time.
    pub clock: Arc<dyn Clock>,
    /// Id source.
    pub ids: Arc<dyn Ids>,
    /// Plans goals into OKRs. When it fails (an LLM service down or answering nonsense), the
    /// deterministic planner is used instead.
    pub planner: Arc<dyn crate::planner::Planner>,
    /// Whether plans proposed by peers wait for the owner ([`Agent::decide_plan`]) instead of
    /// being accepted when every step of ours is one the peer may call.
    pub plan_approval: bool,
    /// How long [`Agent::start_okr`] waits for the peer to accept a plan (its owner may be
    /// deciding).
    pub plan_wait: Duration,
    /// Skill executions at once for any one peer (one peer cannot take every slot); 16 times
    /// as many may wait for a slot, more are refused as busy.
    pub max_tasks_per_peer: usize,
    /// An accepted OKR of a peer with no progress for this long has ended: its initiator
    /// steps down as if it had finished.
    pub okr_expiry: Duration,
}

impl AgentConfig {
    /// Defaults: no auto-grant, 64 concurrent tasks (16 per peer), 30 s deadline, system clock,
    /// random ids, the deterministic planner, plans accepted by policy, 30 s to wait for a
    /// plan's answer, accepted OKRs expire after 24 h without progress.
    pub fn new(name: &str, database: PathBuf) -> Self {
        Self {
            name: name.to_owned(),
            database,
            auto_grant_ceiling: None,
            max_concurrent_tasks: 64,
            deadline: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            planner: Arc::new(crate::planner::DeterministicPlanner),
            plan_approval: false,
            plan_wait: Duration::from_secs(30),
            max_tasks_per_peer: 16,
            okr_expiry: Duration::from_secs(24 * 3600),
        }
    }
}

/// What the agent reports as it works (the activity feed of the app and the CLI, and the
/// event stream of the control API).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    /// A chat message (not a protocol envelope) in a DM or group.
    Chat {
        /// Conversation id, hex.
        conversation: String,
        /// Sender inbox id.
        sender: String,
        /// The text.
        text: String,
    },
    /// We ran a task for a peer.
    TaskServed {
        /// The caller.
        peer: String,
        /// The skill.
        skill: String,
        /// The task id.
        task_id: String,
        /// `completed` or `failed:<CODE>`.
        status: coworker_protocol::CallStatus,
    },
    /// A call we made progressed.
    CallProgress {
        /// The task id.
        task_id: String,
        /// 0-100.
        percent: u8,
        /// What the provider says.
        text: String,
    },
    /// A call we made finished (also asynchronous ones, possibly after a restart).
    CallFinished {
        /// The provider.
        peer: String,
        /// The task id.
        task_id: String,
        /// `completed` or `failed:<CODE>`.
        status: coworker_protocol::CallStatus,
    },
    /// A peer asks for a higher tier; a human decides.
    TrustRequested(TrustRequestRecord),
    /// A peer's tier changed.
    TrustChanged {
        /// The peer.
        peer: String,
        /// The new tier.
        tier: Tier,
        /// Why (`approved`, `auto_grant`, `okr_completed`, `okr_ended`, `okr_expired`,
        /// `failure_decay`, `manual`, `blocked`, `seeded`).
        why: String,
    },
    /// Something a peer sent was refused.
    Denied(AuditEntry),
    /// An OKR changed.
    Okr(coworker_protocol::Okr),
    /// A peer proposes a plan that waits for the owner ([`AgentConfig::plan_approval`]).
    PlanProposed(coworker_protocol::Okr),
}

pub(crate) struct Registered {
    pub(crate) skill: Skill,
    pub(crate) handler: Handler,
}

/// A caller waiting for an answer with a correlation id.
pub(crate) struct Waiter {
    /// The peer that was asked: the only one whose answer counts.
    pub(crate) peer: String,
    pub(crate) reply: Reply,
}

/// Where an answer goes.
pub(crate) enum Reply {
    /// To a caller awaiting it.
    Wait(oneshot::Sender<Answer>),
    /// An asynchronous call: the answer is settled, stored and announced as an event.
    Async(PendingCall),
}

/// What the caller checks a call's receipt against.
#[derive(Debug, Clone)]
pub(crate) struct PendingCall {
    pub(crate) task_id: String,
    pub(crate) skill: String,
    pub(crate) input_sha256: String,
}

/// An envelope answering one of our requests, with the installation that sent it.
pub(crate) struct Answer {
    pub(crate) envelope: Envelope,
    pub(crate) installation: Vec<u8>,
}

/// An XMTP message id.
type MessageId = [u8; 32];

pub(crate) struct Inner {
    pub(crate) client: Client,
    pub(crate) store: Store,
    pub(crate) config: AgentConfig,
    pub(crate) sender: Sender,
    pub(crate) skills: RwLock<BTreeMap<String, Arc<Registered>>>,
    pub(crate) exposed: RwLock<HashMap<String, bool>>,
    pub(crate) outstanding: Mutex<HashMap<String, Waiter>>,
    /// (peer, task key) → correlation ids waiting for the running task's answer.
    pub(crate) running: Mutex<HashMap<(String, String), RunningTask>>,
    pub(crate) dms: tokio::sync::Mutex<HashMap<String, ConversationId>>,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) events: broadcast::Sender<AgentEvent>,
    pub(crate) watermarks: Mutex<HashMap<Vec<u8>, u64>>,
    /// Received requests not handled yet (message id → conversation, sent time): a saved
    /// watermark stays below them, so a crash or a full disk never skips one.
    pub(crate) unhandled: Mutex<HashMap<MessageId, (Vec<u8>, u64)>>,
    /// Requests whose handling met a storage failure, to be handled again.
    pub(crate) retry: Mutex<Vec<Message>>,
    /// Requests being handled right now.
    pub(crate) handling: tokio::sync::watch::Sender<usize>,
    /// Plans proposed to us that wait for the owner: OKR id → where and how to answer.
    pub(crate) proposals: Mutex<HashMap<String, Proposal>>,
    /// Each peer's share of the task slots.
    pub(crate) tasks_per_peer: Mutex<HashMap<String, Arc<crate::provide::PeerGate>>>,
    /// Refusals (error replies and audit rows) per peer.
    pub(crate) refusals: Quota,
    /// Trust requests per peer that reach the owner.
    pub(crate) trust_asks: Quota,
    /// Peers that may have an OKR with us under way that they initiated (served tasks of
    /// other peers skip looking for one).
    pub(crate) peer_plans: Mutex<std::collections::HashSet<String>>,
    /// Tasks the last shutdown interrupted, answered (cancelled) to their callers once the
    /// agent serves again: a caller waiting for one is told instead of waiting forever.
    pub(crate) interrupted: Mutex<Vec<(ReplyTo, TaskResult)>>,
}

/// A plan a peer proposed, waiting for the owner's decision.
pub(crate) struct Proposal {
    pub(crate) conversation: ConversationId,
    pub(crate) correlation_id: Option<String>,
}

pub(crate) struct RunningTask {
    pub(crate) replies: Vec<(String, ConversationId)>,
    pub(crate) abort: Option<tokio::task::AbortHandle>,
}

/// A CoWorker agent: serves skills to peers and calls theirs, over an XMTP client. Cheap to
/// clone.
#[derive(Clone)]
pub struct Agent {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").field("name", &self.inner.config.name).finish_non_exhaustive()
    }
}

/// Stops the intake loop when dropped or stopped.
#[derive(Debug)]
pub struct Serving {
    stream: Option<xmtp_client::StreamHandle>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    agent: Agent,
}

impl Serving {
    /// Stops receiving, lets the requests being handled finish (their answers and receipts
    /// go out) for up to [`Serving::DRAIN`], and saves how far each conversation was handled.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    /// How long [`Serving::stop`] waits for requests in progress.
    pub const DRAIN: Duration = Duration::from_secs(10);

    async fn shutdown(&mut self) {
        if let Some(stream) = self.stream.take() {
            stream.stop().await;
        }
        let mut handling = self.agent.inner.handling.subscribe();
        if tokio::time::timeout(Self::DRAIN, handling.wait_for(|n| *n == 0)).await.is_err() {
            tracing::warn!("stopping with requests still in progress");
        }
        for task in self.tasks.drain(..) {
            task.abort();
        }
        let _ = self.agent.flush_watermarks().await;
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Agent {
    /// Opens the agent's state and loads visibility choices and open asynchronous calls.
    pub async fn open(client: Client, config: AgentConfig) -> Result<Self> {
        let fresh = !config.database.exists();
        let store = Store::open(&config.database).await?;
        if fresh {
            // A new runtime state next to an XMTP history (a reinstall, a lost database): what
            // is already stored is history, not new work; without this, every old request
            // would run again.
            let marks = history_marks(&client).await?;
            store.save_watermarks(&marks).await?;
        }
        let interrupted = TaskResult {
            success: false,
            error: Some(
                "the provider restarted while the task ran; retry with a new task id".into(),
            ),
            error_code: Some(coworker_protocol::FailureCode::Cancelled.as_str().to_owned()),
            ..Default::default()
        };
        let settled = store
            .settle_interrupted_tasks(&serde_json::to_string(&interrupted).unwrap_or_default())
            .await?;
        if !settled.is_empty() {
            tracing::warn!(
                settled = settled.len(),
                "tasks interrupted by the last shutdown were marked cancelled"
            );
        }
        let interrupted: Vec<(ReplyTo, TaskResult)> = settled
            .into_iter()
            .map(|(task_id, reply_to)| {
                (reply_to, TaskResult { task_id: Some(task_id), ..interrupted.clone() })
            })
            .collect();
        let exposed = store.visibility().await?.into_iter().collect();
        let watermarks = store.watermarks().await?.into_iter().collect();
        let (events, _) = broadcast::channel(4096);
        let sender = Sender { name: config.name.clone(), wallet: client.address() };
        let inner = Inner {
            store,
            sender,
            skills: RwLock::new(BTreeMap::new()),
            exposed: RwLock::new(exposed),
            outstanding: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            dms: tokio::sync::Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(config.max_concurrent_tasks.max(1))),
            events,
            watermarks: Mutex::new(watermarks),
            unhandled: Mutex::default(),
            retry: Mutex::default(),
            handling: tokio::sync::watch::Sender::new(0),
            proposals: Mutex::new(HashMap::new()),
            tasks_per_peer: Mutex::new(HashMap::new()),
            refusals: Quota::new(20, Duration::from_secs(6)),
            trust_asks: Quota::new(3, Duration::from_secs(60)),
            peer_plans: Mutex::new(Default::default()),
            interrupted: Mutex::new(interrupted),
            client,
            config,
        };
        let agent = Self { inner: Arc::new(inner) };
        let own = agent.inbox_id().to_owned();
        for (okr, _) in agent.inner.store.okrs_not_stepped_down().await? {
            if okr.initiator != own {
                lock(&agent.inner.peer_plans).insert(okr.initiator);
            }
        }
        for call in agent.inner.store.open_calls().await? {
            let input: serde_json::Value = serde_json::from_str(&call.input).unwrap_or_default();
            let pending = PendingCall {
                task_id: call.task_id,
                skill: call.skill,
                input_sha256: coworker_protocol::receipt::digest(&input),
            };
            lock(&agent.inner.outstanding).insert(
                call.correlation_id,
                Waiter { peer: call.peer, reply: Reply::Async(pending) },
            );
        }
        Ok(agent)
    }

    /// The XMTP client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// This agent's display name.
    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    /// This agent's inbox id.
    pub fn inbox_id(&self) -> &str {
        self.inner.client.inbox_id()
    }

    /// The activity feed.
    pub fn subscribe(&self) -> broadcast::Receiver<AgentEvent> {
        self.inner.events.subscribe()
    }

    pub(crate) fn emit(&self, event: AgentEvent) {
        let _ = self.inner.events.send(event);
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.inner.config.clock.now_ns() / 1_000_000
    }

    pub(crate) fn uuid(&self) -> String {
        self.inner.config.ids.uuid()
    }

    /// A fresh task id (from the injected id source), for a caller that wants to know its
    /// call's id before it is sent (to follow its progress).
    pub fn new_task_id(&self) -> String {
        self.uuid()
    }

    /// Registers a skill. It starts hidden unless `exposed`; a choice the owner saved earlier
    /// (with [`Agent::set_exposed`]) wins over `exposed`.
    pub fn register(&self, spec: SkillSpec, handler: Handler, exposed: bool) -> Result<()> {
        let skill = Skill::new(spec)?;
        let name = skill.spec().name.clone();
        write(&self.inner.exposed).entry(name.clone()).or_insert(exposed);
        write(&self.inner.skills).insert(name, Arc::new(Registered { skill, handler }));
        Ok(())
    }

    /// Removes a skill: peers can no longer see or call it (calls already running finish).
    pub fn unregister(&self, skill: &str) -> Result<()> {
        match write(&self.inner.skills).remove(skill) {
            Some(_) => Ok(()),
            None => Err(RuntimeError::NotFound(format!("skill {skill}"))),
        }
    }

    /// Shows or hides a skill from peers (persisted).
    pub async fn set_exposed(&self, skill: &str, exposed: bool) -> Result<()> {
        if !read(&self.inner.skills).contains_key(skill) {
            return Err(RuntimeError::NotFound(format!("skill {skill}")));
        }
        self.inner.store.set_visibility(skill, exposed).await?;
        write(&self.inner.exposed).insert(skill.to_owned(), exposed);
        Ok(())
    }

    /// Every registered skill with its exposed flag (the owner's view).
    pub fn skills(&self) -> Vec<(SkillCard, bool)> {
        let exposed = read(&self.inner.exposed);
        read(&self.inner.skills)
            .values()
            .map(|r| (r.skill.card(), exposed.get(&r.skill.spec().name).copied().unwrap_or(false)))
            .collect()
    }

    /// What a peer at `tier` sees.
    pub fn preview(&self, tier: Tier) -> Vec<SkillCard> {
        let exposed = read(&self.inner.exposed);
        read(&self.inner.skills)
            .values()
            .filter(|r| {
                r.skill.visible(exposed.get(&r.skill.spec().name).copied().unwrap_or(false), tier)
            })
            .map(|r| r.skill.card())
            .collect()
    }

    /// The skill a peer at `tier` may call by this name, or `None` (hidden, under-tier or
    /// nonexistent: indistinguishable).
    pub(crate) fn callable(&self, name: &str, tier: Tier) -> Option<Arc<Registered>> {
        let exposed = read(&self.inner.exposed).get(name).copied().unwrap_or(false);
        read(&self.inner.skills).get(name).filter(|r| r.skill.visible(exposed, tier)).cloned()
    }

    /// Peers we know, with their tiers.
    pub async fn peers(&self) -> Result<Vec<Peer>> {
        self.inner.store.peers().await
    }

    /// The tier we hold a peer at.
    pub async fn tier(&self, peer: &str) -> Result<Tier> {
        Ok(self.inner.store.peer_state(peer).await?.tier)
    }

    pub(crate) async fn peer_state(&self, peer: &str) -> Result<PeerState> {
        self.inner.store.peer_state(peer).await
    }

    /// Sets a peer's tier by hand (the owner's decision; the only way to PRIVILEGED besides
    /// approving a request). The auto-grant ceiling never gives this peer more than the tier
    /// the owner set.
    pub async fn set_tier(&self, peer: &str, tier: Tier) -> Result<()> {
        self.change_tier(peer, tier, "manual").await
    }

    /// Applies a tier an agent file presets for a peer, once: a later start with the same
    /// file does not undo what happened since (a step-down, a block, the owner's change).
    /// Returns whether it was applied.
    pub async fn seed_tier(&self, peer: &str, tier: Tier) -> Result<bool> {
        if !self.inner.store.record_seed(peer, tier).await? {
            return Ok(false);
        }
        if self.peer_state(peer).await?.blocked {
            return Ok(false);
        }
        self.change_tier(peer, tier, "seeded").await?;
        Ok(true)
    }

    /// Blocks a peer: everything it sends is refused without an answer (even pings), its trust
    /// requests never reach the owner, its chat is not shown, and its tier becomes untrusted.
    pub async fn block(&self, peer: &str) -> Result<()> {
        self.inner.store.set_blocked(peer, true, self.now_ms()).await?;
        self.audit(
            peer,
            "block",
            Decision {
                allowed: false,
                rule: "blocked".into(),
                reason: "blocked by the owner".into(),
            },
        )
        .await;
        self.emit(AgentEvent::TrustChanged {
            peer: peer.to_owned(),
            tier: Tier::Untrusted,
            why: "blocked".into(),
        });
        Ok(())
    }

    /// Lifts a block. The peer stays untrusted until the owner sets a tier.
    pub async fn unblock(&self, peer: &str) -> Result<()> {
        self.inner.store.set_blocked(peer, false, self.now_ms()).await?;
        self.audit(
            peer,
            "unblock",
            Decision {
                allowed: true,
                rule: "unblocked".into(),
                reason: "unblocked by the owner".into(),
            },
        )
        .await;
        Ok(())
    }

    pub(crate) async fn change_tier(&self, peer: &str, tier: Tier, why: &str) -> Result<()> {
        let decided = why != "auto_grant";
        self.inner.store.set_tier(peer, tier, decided, self.now_ms()).await?;
        self.audit(
            peer,
            &format!("tier {tier}"),
            Decision {
                allowed: true,
                rule: why.to_owned(),
                reason: format!("tier set to {tier} ({why})"),
            },
        )
        .await;
        self.emit(AgentEvent::TrustChanged { peer: peer.to_owned(), tier, why: why.to_owned() });
        Ok(())
    }

    /// Trust requests (pending only, or all).
    pub async fn trust_requests(&self, pending_only: bool) -> Result<Vec<TrustRequestRecord>> {
        self.inner.store.trust_requests(pending_only).await
    }

    /// A human's answer to a pending trust request: grants (and tells the peer) or denies.
    pub async fn decide_trust_request(&self, id: i64, approve: bool) -> Result<()> {
        let record = self
            .inner
            .store
            .decide_trust_request(id, approve)
            .await?
            .ok_or_else(|| RuntimeError::NotFound(format!("pending trust request {id}")))?;
        let current = self.tier(&record.peer).await?;
        let answer = if approve {
            let tier = current.max(record.requested);
            self.change_tier(&record.peer, tier, "approved").await?;
            envelope::TrustAnswer::grant(tier, "approved by the owner")
        } else {
            self.inner.store.cap_auto_grant(&record.peer, self.now_ms()).await?;
            self.audit(
                &record.peer,
                &format!("trust_request {}", record.requested),
                Decision {
                    allowed: false,
                    rule: "owner_denied".into(),
                    reason: "the owner denied the request".into(),
                },
            )
            .await;
            envelope::TrustAnswer::deny(Some(record.requested), "denied by the owner")
        };
        let conversation = self.dm(&record.peer).await?;
        self.send(&conversation, answer.kind(), &answer, record.correlation_id.as_deref()).await
    }

    /// The audit log, newest first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        self.inner.store.audit_log(None, limit).await
    }

    /// One peer's newest `limit` audit entries, newest first.
    pub async fn peer_audit_log(&self, peer: &str, limit: u32) -> Result<Vec<AuditEntry>> {
        self.inner.store.audit_log(Some(peer), limit).await
    }

    /// Records a decision. Refusals are rate-limited per peer (a flood of refused messages
    /// cannot fill the disk or the feed): past the quota they are counted, and the next
    /// recorded refusal says how many were not. Returns `false` for a refusal over the quota:
    /// the caller sends no error reply either.
    pub(crate) async fn audit(&self, peer: &str, action: &str, mut decision: Decision) -> bool {
        if !decision.allowed {
            match self.inner.refusals.take(peer, self.now_ms()) {
                None => return false,
                Some(0) => {}
                Some(skipped) => {
                    decision.reason = format!(
                        "{} ({skipped} similar refusals were not recorded)",
                        decision.reason
                    );
                }
            }
        }
        let entry = AuditEntry {
            at_ms: self.now_ms(),
            peer: peer.to_owned(),
            action: coworker_protocol::text::one_line(action, 200),
            decision,
        };
        if let Err(e) = self.inner.store.audit(&entry).await {
            tracing::warn!("audit write failed: {e}");
        }
        if !entry.decision.allowed {
            self.emit(AgentEvent::Denied(entry));
        }
        true
    }

    /// The DM with a peer (cached).
    pub(crate) async fn dm(&self, peer: &str) -> Result<ConversationId> {
        let mut dms = self.inner.dms.lock().await;
        if let Some(id) = dms.get(peer) {
            return Ok(id.clone());
        }
        let id = self.inner.client.dm(peer).await?;
        dms.insert(peer.to_owned(), id.clone());
        Ok(id)
    }

    /// Sends an envelope.
    pub(crate) async fn send<T: Serialize>(
        &self,
        conversation: &ConversationId,
        message_type: &str,
        payload: &T,
        correlation_id: Option<&str>,
    ) -> Result<()> {
        let mut envelope = Envelope::new(
            message_type,
            envelope::to_payload(payload),
            &self.inner.sender,
            self.now_ms(),
        );
        envelope.correlation_id = correlation_id.map(str::to_owned);
        self.inner.client.send_text(conversation, &envelope.to_text()).await?;
        Ok(())
    }

    /// Sends an envelope, again and again while the node cannot be reached, until `until`: for
    /// requests and answers, which a node restart must not lose. Sending one twice does no harm
    /// (a provider runs a task id once, a caller takes the first answer).
    pub(crate) async fn send_until<T: Serialize>(
        &self,
        conversation: &ConversationId,
        message_type: &str,
        payload: &T,
        correlation_id: Option<&str>,
        until: std::time::Instant,
    ) -> Result<()> {
        let mut pause = Duration::from_millis(250);
        loop {
            match self.send(conversation, message_type, payload, correlation_id).await {
                Err(e)
                    if e.code() == "client.unreachable"
                        && std::time::Instant::now() + pause < until =>
                {
                    tracing::info!(
                        "the node is unreachable; sending {message_type} again in {pause:?}"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                sent => return sent,
            }
        }
    }

    /// Starts receiving: the XMTP streams, a catch-up of everything that arrived while the
    /// agent was not running, and the intake loop.
    pub async fn serve(&self) -> Result<Serving> {
        let mut events = self.inner.client.subscribe();
        // The stream syncs every conversation before it subscribes; its messages arrive as
        // events. Catch-up handles what was stored before the agent last stopped.
        let stream = self.inner.client.stream();
        self.catch_up().await?;
        let agent = self.clone();
        let intake = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(Event::Message(message)) => agent.intake(message).await,
                    Ok(Event::Conversation(_)) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "intake lagged; catching up from the store");
                        if let Err(e) = agent.catch_up().await {
                            tracing::warn!("catch-up failed: {e}");
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        let agent = self.clone();
        let flush = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                agent.retry_unhandled().await;
                if let Err(e) = agent.flush_watermarks().await {
                    tracing::warn!("saving watermarks failed: {e}");
                }
            }
        });
        let agent = self.clone();
        let resume = tokio::spawn(async move {
            agent.answer_interrupted().await;
            if let Err(e) = agent.resume_okrs().await {
                tracing::warn!("resuming OKRs failed: {e}");
            }
        });
        let agent = self.clone();
        let every = (self.inner.config.okr_expiry / 4)
            .clamp(Duration::from_millis(100), Duration::from_secs(60));
        let expire = tokio::spawn(async move {
            loop {
                if let Err(e) = agent.expire_okrs().await {
                    tracing::warn!("expiring OKRs failed: {e}");
                }
                tokio::time::sleep(every).await;
            }
        });
        Ok(Serving {
            stream: Some(stream),
            tasks: vec![intake, flush, resume, expire],
            agent: self.clone(),
        })
    }

    /// Tells the callers of tasks the last shutdown interrupted that they were cancelled.
    async fn answer_interrupted(&self) {
        let interrupted = std::mem::take(&mut *lock(&self.inner.interrupted));
        for (reply_to, result) in interrupted {
            let conversation = ConversationId(reply_to.conversation);
            let answer =
                self.answer(&conversation, reply_to.group, &reply_to.correlation_id, result);
            if let Err(e) = answer.await {
                tracing::warn!("telling a caller its task was interrupted failed: {e}");
            }
        }
    }

    /// Fetches what arrived while the agent was not running and handles it, waiting up to
    /// `wait` for the requests among it to be handled (for one-shot programs such as the CLI,
    /// which then report a consistent state). Returns whether everything was handled in time.
    pub async fn catch_up_now(&self, wait: Duration) -> Result<bool> {
        self.inner.client.sync_all().await?;
        self.catch_up().await?;
        let mut handling = self.inner.handling.subscribe();
        Ok(tokio::time::timeout(wait, handling.wait_for(|n| *n == 0)).await.is_ok())
    }

    /// Handles every stored message after each conversation's watermark. Handling is
    /// idempotent (task ids run once, answers match outstanding requests once), so a message
    /// seen twice does no harm.
    async fn catch_up(&self) -> Result<()> {
        for conversation in self.inner.client.conversations().await? {
            let mut after =
                lock(&self.inner.watermarks).get(&conversation.id.0).copied().unwrap_or(0);
            loop {
                let page = self.inner.client.messages(&conversation.id, after, 200).await?;
                let count = page.len();
                if let Some(last) = page.last() {
                    after = after.max(last.sent_ns);
                }
                for message in page {
                    self.intake(message).await;
                }
                if count < 200 {
                    break;
                }
            }
        }
        Ok(())
    }

    async fn flush_watermarks(&self) -> Result<()> {
        let mut marks: HashMap<Vec<u8>, u64> = lock(&self.inner.watermarks).clone();
        for (conversation, sent_ns) in lock(&self.inner.unhandled).values() {
            if let Some(mark) = marks.get_mut(conversation) {
                *mark = (*mark).min(sent_ns.saturating_sub(1));
            }
        }
        let marks: Vec<(Vec<u8>, u64)> = marks.into_iter().collect();
        if !marks.is_empty() {
            self.inner.store.save_watermarks(&marks).await?;
        }
        Ok(())
    }

    /// One XMTP message: a protocol envelope, or chat. The conversation's watermark moves past
    /// it once it has been handled, and only for messages received: their time is the node's,
    /// while ours carry this machine's clock, which may be ahead of the node's (a watermark
    /// moved by it would skip what peers send meanwhile).
    async fn intake(&self, message: Message) {
        if message.sender_installation == self.inner.client.installation_id() {
            return;
        }
        let (conversation, sent_ns) = (message.conversation.0.clone(), message.sent_ns);
        self.handle(message).await;
        let mut marks = lock(&self.inner.watermarks);
        let mark = marks.entry(conversation).or_insert(0);
        *mark = (*mark).max(sent_ns);
    }

    /// Handles again the requests whose handling met a storage failure (space may be back).
    async fn retry_unhandled(&self) {
        let retry = std::mem::take(&mut *lock(&self.inner.retry));
        for message in retry {
            self.handle(message).await;
        }
    }

    async fn handle(&self, message: Message) {
        let Some(text) = message.text() else { return };
        let peer = message.sender_inbox_id.clone();
        if peer == self.inbox_id() {
            return;
        }
        let state = match self.peer_state(&peer).await {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!("peer lookup failed: {e}");
                return;
            }
        };
        if state.blocked {
            // Recorded within the refusal quota, never answered, never shown.
            let blocked = Decision {
                allowed: false,
                rule: "blocked".into(),
                reason: "the peer is blocked".into(),
            };
            self.audit(&peer, "message", blocked).await;
            return;
        }
        let parsed = Envelope::parse(&text);
        let dialect = parsed.as_ref().ok().and_then(Option::as_ref).map(Envelope::dialect);
        if let Err(e) = self.inner.store.seen(&peer, message.sent_ns / 1_000_000, dialect).await {
            tracing::warn!("last-seen update failed: {e}");
        }
        let envelope = match parsed {
            Ok(Some(envelope)) => envelope,
            Ok(None) => {
                self.emit(AgentEvent::Chat {
                    conversation: message.conversation.to_string(),
                    sender: peer,
                    text,
                });
                return;
            }
            Err(e) => {
                self.audit(
                    &peer,
                    "envelope",
                    Decision { allowed: false, rule: e.code().to_owned(), reason: e.to_string() },
                )
                .await;
                return;
            }
        };
        if kind::RESPONSES.contains(&envelope.kind.as_str()) {
            self.on_answer(&peer, &message.conversation, message.sender_installation, envelope)
                .await;
            return;
        }
        // A group request naming another member is not ours to run, refuse or audit.
        if envelope.kind == kind::GROUP_TASK_REQUEST && !self.targeted(&envelope) {
            return;
        }
        let tier = state.tier;
        let decision = trust::gate(&envelope.kind, tier);
        if !decision.allowed {
            if !self.audit(&peer, &envelope.kind, decision.clone()).await {
                return; // over the refusal quota: no answer either
            }
            let code = if decision.rule == "unknown_type" {
                "UNKNOWN_MESSAGE_TYPE"
            } else {
                "TRUST_TIER_TOO_LOW"
            };
            let refusal = envelope::ErrorPayload { code: code.into(), message: decision.reason };
            let _ = self
                .send(
                    &message.conversation,
                    kind::ERROR,
                    &refusal,
                    envelope.correlation_id.as_deref(),
                )
                .await;
            return;
        }
        let agent = self.clone();
        self.inner.handling.send_modify(|n| *n += 1);
        lock(&self.inner.unhandled)
            .insert(message.id, (message.conversation.0.clone(), message.sent_ns));
        // Requests may take long (skills, approvals): never block the intake loop on them.
        tokio::spawn(async move {
            match agent.on_request(&peer, tier, &message.conversation, envelope).await {
                Err(e) if e.is_storage() => {
                    // Not handled: it stays below the watermark and is handled again later.
                    tracing::warn!(peer, code = e.code(), "request not handled, retrying: {e}");
                    lock(&agent.inner.retry).push(message);
                }
                Err(e) => {
                    tracing::warn!(peer, code = e.code(), "request handling failed: {e}");
                    lock(&agent.inner.unhandled).remove(&message.id);
                }
                Ok(()) => {
                    lock(&agent.inner.unhandled).remove(&message.id);
                }
            }
            agent.inner.handling.send_modify(|n| *n = n.saturating_sub(1));
        });
    }

    async fn is_group(&self, conversation: &ConversationId) -> bool {
        self.inner
            .client
            .conversation(conversation)
            .await
            .is_ok_and(|c| c.kind == xmtp_client::ConversationKind::Group)
    }

    /// Whether a group task request names this agent (by inbox id or by wallet, as
    /// agent-coworker does; naming nobody means anyone may run it).
    fn targeted(&self, envelope: &Envelope) -> bool {
        let field = |name: &str| {
            envelope.payload.get(name).and_then(serde_json::Value::as_str).filter(|v| !v.is_empty())
        };
        field("target_inbox").is_none_or(|t| t == self.inbox_id())
            && field("target_wallet")
                .is_none_or(|w| w.eq_ignore_ascii_case(&self.inner.client.address()))
    }

    /// An answer is accepted only for an outstanding correlation id and only from the peer
    /// that was asked. Group answers meant for other members are ignored without a record.
    async fn on_answer(
        &self,
        peer: &str,
        conversation: &ConversationId,
        installation: Vec<u8>,
        envelope: Envelope,
    ) {
        let correlation = envelope.correlation_id.clone().unwrap_or_default();
        let outcome = {
            let mut outstanding = lock(&self.inner.outstanding);
            match outstanding.get(&correlation) {
                None => Err("unsolicited_answer"),
                Some(waiter) if waiter.peer != peer => Err("answer_from_wrong_peer"),
                Some(_) if envelope.kind == kind::TASK_PROGRESS => Ok(None),
                Some(_) => Ok(outstanding.remove(&correlation)),
            }
        };
        match outcome {
            // In a group, every member sees every answer; those for others are not attacks.
            Err("unsolicited_answer") if self.is_group(conversation).await => {}
            Err(rule) => {
                self.audit(
                    peer,
                    &envelope.kind,
                    Decision {
                        allowed: false,
                        rule: rule.to_owned(),
                        reason: format!(
                            "{} does not answer a request we sent to this peer",
                            envelope.kind
                        ),
                    },
                )
                .await;
            }
            Ok(None) => {
                if let Ok(progress) = envelope.payload::<envelope::TaskProgress>() {
                    self.emit(AgentEvent::CallProgress {
                        task_id: progress.task_id,
                        percent: progress.percent.min(100),
                        text: progress.status_text,
                    });
                }
            }
            Ok(Some(waiter)) => {
                let answer = Answer { envelope, installation };
                match waiter.reply {
                    Reply::Wait(reply) => {
                        let _ = reply.send(answer);
                    }
                    Reply::Async(call) => self.finish_async_call(peer, &call, answer).await,
                }
            }
        }
    }

    /// Registers a waiter for `correlation_id` from `peer`.
    pub(crate) fn expect(&self, correlation_id: &str, peer: &str) -> oneshot::Receiver<Answer> {
        let (reply, answer) = oneshot::channel();
        self.expect_with(correlation_id, peer, Reply::Wait(reply));
        answer
    }

    pub(crate) fn expect_with(&self, correlation_id: &str, peer: &str, reply: Reply) {
        lock(&self.inner.outstanding)
            .insert(correlation_id.to_owned(), Waiter { peer: peer.to_owned(), reply });
    }

    pub(crate) fn forget(&self, correlation_id: &str) {
        lock(&self.inner.outstanding).remove(correlation_id);
    }

    /// Sends a request to a peer's DM and waits for the answer.
    pub(crate) async fn request<T: Serialize>(
        &self,
        peer: &str,
        message_type: &str,
        payload: &T,
        wait: Duration,
    ) -> Result<Answer> {
        let conversation = self.dm(peer).await?;
        let correlation = self.uuid();
        let answer = self.expect(&correlation, peer);
        if let Err(e) = self.send(&conversation, message_type, payload, Some(&correlation)).await {
            self.forget(&correlation);
            return Err(e);
        }
        match tokio::time::timeout(wait, answer).await {
            Ok(Ok(answer)) => Ok(answer),
            _ => {
                self.forget(&correlation);
                Err(crate::error::CallError::Timeout(
                    u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                )
                .into())
            }
        }
    }
}

/// The newest stored message of each conversation.
async fn history_marks(client: &Client) -> Result<Vec<(Vec<u8>, u64)>> {
    let mut marks = Vec::new();
    for conversation in client.conversations().await? {
        let mut newest = 0;
        loop {
            let page = client.messages(&conversation.id, newest, 500).await?;
            let Some(last) = page.last() else { break };
            newest = last.sent_ns;
            if page.len() < 500 {
                break;
            }
        }
        if newest > 0 {
            marks.push((conversation.id.0, newest));
        }
    }
    Ok(marks)
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}
