//! [`Api`]: every use case a front end has, the same whether the agent runs in this process
//! ([`Api::Local`]) or in a host reached over the control socket ([`Api::Remote`]). The local
//! side is also what the host runs for its clients, so each use case is written once.

use std::time::Duration;

use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::protocol::{Okr, SignedReceipt, SkillCard, SkillSpec};
use coworker_runtime::{
    Agent, AgentEvent, AuditEntry, CallOptions, CallSummary, Group, Peer, TrustRequestRecord,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::control::ControlClient;
use crate::control::proto::Request;
use crate::error::{ErrorKind, HostError};

/// Result alias.
pub type Result<T, E = HostError> = std::result::Result<T, E>;

/// The agent a front end works with.
#[derive(Debug, Clone)]
pub enum Api {
    /// In this process.
    Local(Agent),
    /// In a host, over its control socket.
    Remote(ControlClient),
}

/// Who the agent is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Its name.
    pub name: String,
    /// Its inbox id.
    pub inbox_id: String,
    /// Its wallet address.
    pub address: String,
    /// This installation's key, hex.
    pub installation_id: String,
    /// Whether the network answered (its own identity log could be read).
    pub node_reachable: bool,
    /// Skills registered.
    pub skills: usize,
    /// Peers known.
    pub peers: usize,
    /// Trust requests waiting for the owner.
    pub pending_requests: usize,
}

/// What connecting from an invite found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connected {
    /// The peer as now known (its skills included).
    pub peer: Peer,
    /// Whether it answered.
    pub online: bool,
    /// The tier asked for, if any.
    pub asked: Option<Tier>,
    /// Its answer: `granted` / `denied` with a reason, or `pending` (its owner decides later).
    pub answer: Option<TrustOutcome>,
}

/// A trust request's outcome as the asker sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TrustOutcome {
    /// Granted: the tier it now holds us at.
    Granted {
        /// The tier.
        tier: Tier,
    },
    /// Denied.
    Denied {
        /// Its reason.
        reason: String,
    },
    /// Its owner has not decided yet.
    Pending,
}

/// A finished call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Called {
    /// The task id.
    pub task_id: String,
    /// The output.
    pub output: Value,
    /// The provider's verified receipt (none from the Python original).
    pub receipt: Option<SignedReceipt>,
    /// Round trip, milliseconds.
    pub elapsed_ms: u64,
}

/// An asynchronous call's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// It completed.
    Completed {
        /// The output.
        output: Value,
    },
    /// It failed.
    Failed {
        /// The peer's code (`UNKNOWN_SKILL`, …).
        code: String,
        /// Why.
        message: String,
    },
}

/// How a long request is going, as it happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Progress {
    /// The provider reported progress on a call.
    Call {
        /// The task id.
        task_id: String,
        /// 0-100.
        percent: u8,
        /// What it says.
        text: String,
    },
    /// The collaboration's OKR changed (planned, accepted, a step ran, ended).
    Okr {
        /// The OKR now.
        okr: Okr,
    },
}

/// Where a request's [`Progress`] goes.
pub type ProgressSink = tokio::sync::mpsc::UnboundedSender<Progress>;

/// Runs `work`, forwarding to `sink` the agent's `events` that `pick` maps to progress while it
/// runs and, when it ends, those reported before its end that were not forwarded yet (a
/// provider's last progress report may be still queued when its result arrives).
async fn following<T>(
    mut events: tokio::sync::broadcast::Receiver<AgentEvent>,
    sink: Option<ProgressSink>,
    pick: impl Fn(AgentEvent) -> Option<Progress>,
    work: impl std::future::Future<Output = T>,
) -> T {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    let Some(sink) = sink else { return work.await };
    let forward = |event| {
        if let Some(progress) = pick(event) {
            let _ = sink.send(progress);
        }
    };
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            biased;
            event = events.recv() => match event {
                Ok(event) => forward(event),
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break (&mut work).await,
            },
            result = &mut work => break result,
        }
    };
    loop {
        match events.try_recv() {
            Ok(event) => forward(event),
            Err(TryRecvError::Lagged(_)) => {}
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    result
}

/// A skill and whether peers may see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnSkill {
    /// Its card.
    pub card: SkillCard,
    /// Shown to peers.
    pub exposed: bool,
}

/// The result of checking every receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptCheck {
    /// Receipts checked.
    pub checked: usize,
    /// Those that failed: id, whether the signature verifies, whether its signer is an
    /// installation of the provider.
    pub failed: Vec<(String, bool, bool)>,
}

impl Api {
    /// The agent in this process, when there is one.
    pub fn local(&self) -> Option<&Agent> {
        match self {
            Self::Local(agent) => Some(agent),
            Self::Remote(_) => None,
        }
    }

    async fn remote<T: DeserializeOwned>(client: &ControlClient, request: Request) -> Result<T> {
        Self::remote_with(client, request, None).await
    }

    async fn remote_with<T: DeserializeOwned>(
        client: &ControlClient,
        request: Request,
        progress: Option<ProgressSink>,
    ) -> Result<T> {
        let value = client.request_with(request, progress).await?;
        serde_json::from_value(value).map_err(|e| {
            HostError::new(ErrorKind::Protocol, "control.answer", format!("unexpected answer: {e}"))
        })
    }

    /// Who the agent is.
    pub async fn status(&self) -> Result<Status> {
        match self {
            Self::Local(agent) => Ok(Status {
                name: agent.name().to_owned(),
                inbox_id: agent.inbox_id().to_owned(),
                address: agent.client().address(),
                installation_id: hex::encode(agent.client().installation_id()),
                node_reachable: agent.client().inbox_state(agent.inbox_id()).await.is_ok(),
                skills: agent.skills().len(),
                peers: agent.peers().await?.len(),
                pending_requests: agent.trust_requests(true).await?.len(),
            }),
            Self::Remote(c) => Self::remote(c, Request::Status).await,
        }
    }

    /// An invite code.
    pub async fn invite(&self, expires_at: Option<u64>) -> Result<String> {
        match self {
            Self::Local(agent) => Ok(agent.invite(expires_at)?),
            Self::Remote(c) => Self::remote(c, Request::Invite { expires_at }).await,
        }
    }

    /// Every known peer.
    pub async fn peers(&self) -> Result<Vec<Peer>> {
        match self {
            Self::Local(agent) => Ok(agent.peers().await?),
            Self::Remote(c) => Self::remote(c, Request::Peers).await,
        }
    }

    /// A peer by inbox id or its one verified name.
    pub async fn find_peer(&self, text: &str) -> Result<Peer> {
        match self {
            Self::Local(agent) => Ok(agent.find_peer(text).await?),
            Self::Remote(c) => Self::remote(c, Request::FindPeer { text: text.to_owned() }).await,
        }
    }

    /// Asks a peer for the skills it shows us now (and remembers them); waits up to `wait`.
    pub async fn discover(&self, peer: &str, wait: Duration) -> Result<Vec<SkillCard>> {
        match self {
            Self::Local(agent) => Ok(agent.discover_within(peer, wait).await?),
            Self::Remote(c) => {
                let request = Request::Discover { peer: peer.to_owned(), wait_ms: millis(wait) };
                Self::remote(c, request).await
            }
        }
    }

    /// Accepts an invite: remembers the peer, discovers its skills (an offline peer is still
    /// connected) and, with `ask`, asks it to hold us at that tier (a human may decide later:
    /// pending). Waits up to `wait` for each answer (10 s at most for the trust decision).
    pub async fn connect(
        &self,
        code: &str,
        ask: Option<Tier>,
        reason: &str,
        wait: Duration,
    ) -> Result<Connected> {
        let agent = match self {
            Self::Local(agent) => agent,
            Self::Remote(c) => {
                let request = Request::Connect {
                    code: code.to_owned(),
                    ask,
                    reason: reason.to_owned(),
                    wait_ms: millis(wait),
                };
                return Self::remote(c, request).await;
            }
        };
        let timed_out = |e: &coworker_runtime::RuntimeError| {
            matches!(
                e,
                coworker_runtime::RuntimeError::Call(coworker_runtime::CallError::Timeout(_))
            )
        };
        let peer = agent.add_peer(code).await?;
        let online = match agent.discover_within(&peer.inbox_id, wait).await {
            Ok(_) => true,
            Err(e) if timed_out(&e) => false,
            Err(e) => return Err(e.into()),
        };
        let mut answer = None;
        if let Some(tier) = ask {
            let reason = if reason.is_empty() {
                format!("{} accepted your invite", agent.name())
            } else {
                reason.to_owned()
            };
            // An offline peer gets the request when it is back; its owner decides then.
            let decision = wait.min(Duration::from_secs(10));
            answer =
                Some(match agent.request_trust(&peer.inbox_id, tier, &reason, decision).await {
                    Ok(a) if a.granted => {
                        let held =
                            a.granted_tier.and_then(|t| Tier::try_from(t).ok()).unwrap_or(tier);
                        agent.discover_within(&peer.inbox_id, wait).await?;
                        TrustOutcome::Granted { tier: held }
                    }
                    Ok(a) if a.status.as_deref() == Some("pending") => TrustOutcome::Pending,
                    Ok(a) => TrustOutcome::Denied { reason: a.reason },
                    Err(e) if timed_out(&e) => TrustOutcome::Pending,
                    Err(e) => return Err(e.into()),
                });
        }
        Ok(Connected { peer: agent.peer(&peer.inbox_id).await?, online, asked: ask, answer })
    }

    /// Calls a peer's skill and waits for the result; the provider's progress reports go to
    /// `progress`.
    pub async fn call(
        &self,
        peer: &str,
        skill: &str,
        input: Value,
        options: CallOptions,
        progress: Option<ProgressSink>,
    ) -> Result<Called> {
        match self {
            Self::Local(agent) => {
                let task_id = options.task_id.clone().unwrap_or_else(|| agent.new_task_id());
                let mine = task_id.clone();
                let pick = move |event| match event {
                    AgentEvent::CallProgress { task_id, percent, text } if task_id == mine => {
                        Some(Progress::Call { task_id, percent, text })
                    }
                    _ => None,
                };
                let options = CallOptions { task_id: Some(task_id), ..options };
                let call = Box::pin(agent.call(peer, skill, input, options));
                let done = following(agent.subscribe(), progress, pick, call).await?;
                Ok(called(done))
            }
            Self::Remote(c) => {
                let request = Request::Call {
                    peer: peer.to_owned(),
                    skill: skill.to_owned(),
                    input,
                    task_id: options.task_id,
                    timeout_ms: options.timeout.map(millis),
                };
                Self::remote_with(c, request, progress).await
            }
        }
    }

    /// Sends a call without waiting; the task id.
    pub async fn request(&self, peer: &str, skill: &str, input: Value) -> Result<String> {
        match self {
            Self::Local(agent) => Ok(agent.call_async(peer, skill, input).await?),
            Self::Remote(c) => {
                let request =
                    Request::Request { peer: peer.to_owned(), skill: skill.to_owned(), input };
                Self::remote(c, request).await
            }
        }
    }

    /// An asynchronous call's outcome, waiting up to `wait` for it to settle (`None`: still
    /// pending).
    pub async fn call_result(&self, task_id: &str, wait: Duration) -> Result<Option<Outcome>> {
        match self {
            Self::Local(agent) => {
                // Subscribe before looking, so an answer settled in between is not missed.
                let mut events = agent.subscribe();
                if agent.call_result(task_id).await?.is_none() && !wait.is_zero() {
                    let finished = async {
                        while let Ok(event) = events.recv().await {
                            if matches!(&event, AgentEvent::CallFinished { task_id: t, .. } if t == task_id)
                            {
                                break;
                            }
                        }
                    };
                    let _ = tokio::time::timeout(wait, finished).await;
                }
                Self::settled(agent, task_id).await
            }
            Self::Remote(c) => {
                let request =
                    Request::CallResult { task_id: task_id.to_owned(), wait_ms: millis(wait) };
                Self::remote(c, request).await
            }
        }
    }

    async fn settled(agent: &Agent, task_id: &str) -> Result<Option<Outcome>> {
        Ok(agent.call_result(task_id).await?.map(|r| match r {
            Ok(output) => Outcome::Completed { output },
            Err(coworker_runtime::CallError::Failed { code, message, .. }) => {
                Outcome::Failed { code: code.as_str().to_owned(), message }
            }
            Err(other) => {
                Outcome::Failed { code: other.code().to_owned(), message: other.to_string() }
            }
        }))
    }

    /// Every call made, newest first.
    pub async fn calls(&self) -> Result<Vec<CallSummary>> {
        match self {
            Self::Local(agent) => Ok(agent.calls().await?),
            Self::Remote(c) => Self::remote(c, Request::Calls).await,
        }
    }

    /// Asks a provider to stop a task.
    pub async fn cancel(&self, peer: &str, task_id: &str) -> Result<()> {
        match self {
            Self::Local(agent) => Ok(agent.cancel(peer, task_id).await?),
            Self::Remote(c) => {
                let request =
                    Request::Cancel { peer: peer.to_owned(), task_id: task_id.to_owned() };
                Self::remote(c, request).await
            }
        }
    }

    /// Plans a goal with a peer and runs it to the end; the OKR goes to `progress` each time
    /// it changes.
    pub async fn collaborate(
        &self,
        peer: &str,
        goal: &str,
        progress: Option<ProgressSink>,
    ) -> Result<Okr> {
        match self {
            Self::Local(agent) => {
                let okr = agent.plan_goal(peer, goal).await?;
                let mine = okr.id.clone();
                if let Some(sink) = &progress {
                    let _ = sink.send(Progress::Okr { okr: okr.clone() });
                }
                let pick = move |event| match event {
                    AgentEvent::Okr(okr) if okr.id == mine => Some(Progress::Okr { okr }),
                    _ => None,
                };
                let start = Box::pin(agent.start_okr(okr));
                Ok(following(agent.subscribe(), progress, pick, start).await?)
            }
            Self::Remote(c) => {
                let request = Request::Collaborate { peer: peer.to_owned(), goal: goal.to_owned() };
                Self::remote_with(c, request, progress).await
            }
        }
    }

    /// Every OKR.
    pub async fn okrs(&self) -> Result<Vec<Okr>> {
        match self {
            Self::Local(agent) => Ok(agent.okrs().await?),
            Self::Remote(c) => Self::remote(c, Request::Okrs).await,
        }
    }

    /// Every skill and whether peers may see it.
    pub async fn skills(&self) -> Result<Vec<OwnSkill>> {
        match self {
            Self::Local(agent) => Ok(agent
                .skills()
                .into_iter()
                .map(|(card, exposed)| OwnSkill { card, exposed })
                .collect()),
            Self::Remote(c) => Self::remote(c, Request::Skills).await,
        }
    }

    /// Shows or hides a skill.
    pub async fn set_exposed(&self, skill: &str, exposed: bool) -> Result<()> {
        match self {
            Self::Local(agent) => Ok(agent.set_exposed(skill, exposed).await?),
            Self::Remote(c) => {
                Self::remote(c, Request::SetExposed { skill: skill.to_owned(), exposed }).await
            }
        }
    }

    /// What a peer at `tier` sees.
    pub async fn preview(&self, tier: Tier) -> Result<Vec<SkillCard>> {
        match self {
            Self::Local(agent) => Ok(agent.preview(tier)),
            Self::Remote(c) => Self::remote(c, Request::Preview { tier }).await,
        }
    }

    /// The tier held for a peer.
    pub async fn tier(&self, peer: &str) -> Result<Tier> {
        match self {
            Self::Local(agent) => Ok(agent.tier(peer).await?),
            Self::Remote(c) => Self::remote(c, Request::Tier { peer: peer.to_owned() }).await,
        }
    }

    /// Sets a peer's tier.
    pub async fn set_tier(&self, peer: &str, tier: Tier) -> Result<()> {
        match self {
            Self::Local(agent) => Ok(agent.set_tier(peer, tier).await?),
            Self::Remote(c) => {
                Self::remote(c, Request::SetTier { peer: peer.to_owned(), tier }).await
            }
        }
    }

    /// Trust requests.
    pub async fn trust_requests(&self, pending_only: bool) -> Result<Vec<TrustRequestRecord>> {
        match self {
            Self::Local(agent) => Ok(agent.trust_requests(pending_only).await?),
            Self::Remote(c) => Self::remote(c, Request::TrustRequests { pending_only }).await,
        }
    }

    /// Approves or denies a pending trust request.
    pub async fn decide_trust_request(&self, id: i64, approve: bool) -> Result<()> {
        match self {
            Self::Local(agent) => Ok(agent.decide_trust_request(id, approve).await?),
            Self::Remote(c) => Self::remote(c, Request::DecideTrustRequest { id, approve }).await,
        }
    }

    /// The audit log, newest first (one peer's when given).
    pub async fn audit_log(&self, peer: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>> {
        match self {
            Self::Local(agent) => Ok(match peer {
                Some(peer) => agent.peer_audit_log(peer, limit).await?,
                None => agent.audit_log(limit).await?,
            }),
            Self::Remote(c) => {
                Self::remote(c, Request::AuditLog { peer: peer.map(str::to_owned), limit }).await
            }
        }
    }

    /// Blocks or unblocks a peer.
    pub async fn set_blocked(&self, peer: &str, blocked: bool) -> Result<()> {
        match self {
            Self::Local(agent) if blocked => Ok(agent.block(peer).await?),
            Self::Local(agent) => Ok(agent.unblock(peer).await?),
            Self::Remote(c) if blocked => {
                Self::remote(c, Request::Block { peer: peer.to_owned() }).await
            }
            Self::Remote(c) => Self::remote(c, Request::Unblock { peer: peer.to_owned() }).await,
        }
    }

    /// Every group.
    pub async fn groups(&self) -> Result<Vec<Group>> {
        match self {
            Self::Local(agent) => Ok(agent.groups().await?),
            Self::Remote(c) => Self::remote(c, Request::Groups).await,
        }
    }

    /// Creates a group.
    pub async fn create_group(&self, name: &str, members: &[String]) -> Result<Group> {
        match self {
            Self::Local(agent) => Ok(agent.create_group(name, members).await?),
            Self::Remote(c) => {
                let request =
                    Request::CreateGroup { name: name.to_owned(), members: members.to_vec() };
                Self::remote(c, request).await
            }
        }
    }

    /// Sends chat to a group or DM.
    pub async fn send_chat(&self, conversation: &str, text: &str) -> Result<()> {
        match self {
            Self::Local(agent) => Ok(agent.send_chat(conversation, text).await?),
            Self::Remote(c) => {
                let request = Request::SendChat {
                    conversation: conversation.to_owned(),
                    text: text.to_owned(),
                };
                Self::remote(c, request).await
            }
        }
    }

    /// Calls a group member's skill in the group.
    pub async fn group_call(
        &self,
        group: &str,
        member: &str,
        skill: &str,
        input: Value,
    ) -> Result<Called> {
        match self {
            Self::Local(agent) => Ok(called(
                agent.group_call(group, member, skill, input, CallOptions::default()).await?,
            )),
            Self::Remote(c) => {
                let request = Request::GroupCall {
                    group: group.to_owned(),
                    member: member.to_owned(),
                    skill: skill.to_owned(),
                    input,
                };
                Self::remote(c, request).await
            }
        }
    }

    /// Every receipt.
    pub async fn receipts(&self) -> Result<Vec<SignedReceipt>> {
        match self {
            Self::Local(agent) => Ok(agent.receipts().await?),
            Self::Remote(c) => Self::remote(c, Request::Receipts).await,
        }
    }

    /// Checks each receipt's signature and that its signer is an installation of its provider.
    pub async fn verify_receipts(&self) -> Result<ReceiptCheck> {
        let agent = match self {
            Self::Local(agent) => agent,
            Self::Remote(c) => return Self::remote(c, Request::VerifyReceipts).await,
        };
        let receipts = agent.receipts().await?;
        let mut failed = Vec::new();
        for signed in &receipts {
            let key: Option<[u8; 32]> =
                hex::decode(&signed.signer).ok().and_then(|k| <[u8; 32]>::try_from(k).ok());
            let signature_ok = key.is_some_and(|k| signed.verify(&k).is_ok());
            let signer_ok = agent
                .client()
                .inbox_state(&signed.receipt.provider)
                .await
                .is_ok_and(|s| s.installation_keys().any(|k| hex::encode(k) == signed.signer));
            if !(signature_ok && signer_ok) {
                failed.push((signed.receipt.id.clone(), signature_ok, signer_ok));
            }
        }
        Ok(ReceiptCheck { checked: receipts.len(), failed })
    }

    /// Registers a skill run by Rust code in this process (local agents only; a remote client
    /// provides skills with [`crate::control::SkillProvider`]).
    pub fn register(
        &self,
        spec: SkillSpec,
        handler: coworker_runtime::Handler,
        exposed: bool,
    ) -> Result<()> {
        match self {
            Self::Local(agent) => Ok(agent.register(spec, handler, exposed)?),
            Self::Remote(_) => Err(HostError::new(
                ErrorKind::InvalidInput,
                "control.local_only",
                "a remote client provides skills with a SkillProvider",
            )),
        }
    }

    /// The agent's events from now on.
    pub async fn events(&self) -> Result<tokio::sync::mpsc::UnboundedReceiver<AgentEvent>> {
        let (send, receive) = tokio::sync::mpsc::unbounded_channel();
        match self {
            Self::Local(agent) => {
                let mut events = agent.subscribe();
                tokio::spawn(async move {
                    loop {
                        match events.recv().await {
                            Ok(event) => {
                                if send.send(event).is_err() {
                                    break;
                                }
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                        }
                    }
                });
            }
            Self::Remote(c) => c.subscribe(send).await?,
        }
        Ok(receive)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn called(done: coworker_runtime::CallResult) -> Called {
    Called {
        task_id: done.task_id,
        output: done.output,
        receipt: done.receipt,
        elapsed_ms: u64::try_from(done.elapsed.as_millis()).unwrap_or(u64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(task_id: &str, percent: u8) -> AgentEvent {
        AgentEvent::CallProgress { task_id: task_id.into(), percent, text: String::new() }
    }

    #[tokio::test]
    async fn progress_reported_just_before_the_work_ends_is_still_forwarded() {
        let (events, subscribed) = tokio::sync::broadcast::channel(16);
        let (sink, mut forwarded) = tokio::sync::mpsc::unbounded_channel();
        let pick = |event| match event {
            AgentEvent::CallProgress { task_id, percent, text } if task_id == "mine" => {
                Some(Progress::Call { task_id, percent, text })
            }
            _ => None,
        };
        // The work reports and ends in one poll, as a result arriving right behind its
        // provider's last progress report does: only the final drain can forward it.
        let work = async {
            events.send(progress("mine", 50)).unwrap();
            events.send(progress("another", 60)).unwrap();
            events.send(progress("mine", 90)).unwrap();
            7
        };
        assert_eq!(following(subscribed, Some(sink), pick, work).await, 7);
        let mut seen = Vec::new();
        while let Ok(Progress::Call { percent, .. }) = forwarded.try_recv() {
            seen.push(percent);
        }
        assert_eq!(seen, [50, 90], "this call's reports, in order, none lost");
    }
}
