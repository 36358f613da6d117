//! The caller side: invites and connecting, ping, discovery, trust requests, calls (waiting or
//! asynchronous), receipts, and collaborating on a goal as an OKR.

use std::time::{Duration, Instant};

use coworker_protocol::envelope::{self, Dialect, TaskRequest, TaskResult, kind};
use coworker_protocol::okr::{self, Candidate, OkrStatus};
use coworker_protocol::receipt;
use coworker_protocol::skill::FailureCode;
use coworker_protocol::trust::{self, CallOutcome, Tier};
use coworker_protocol::{CallStatus, Invite, Okr, SignedReceipt, SkillCard};
use serde_json::Value;
use tokio::task::JoinSet;

use crate::agent::{Agent, AgentEvent, Answer, PendingCall, Reply};
use crate::error::{CallError, Result, RuntimeError};
use crate::planner::PlanRequest;
use crate::store::{CallRecord, NameSource, Peer};

/// Options of one call.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Reuse this task id (a retry); the provider runs a task id once.
    pub task_id: Option<String>,
    /// How long to wait (default: the agent's deadline).
    pub timeout: Option<Duration>,
    /// Ask for exactly this version.
    pub version: Option<String>,
    /// When whoever awaits the call stops waiting (its future is dropped: a control client that
    /// went away), record it cancelled and ask the provider to stop. Off by default: an
    /// agent's own work (an OKR step) that stops with its process is resumed, not cancelled.
    pub cancel_if_abandoned: bool,
}

/// Where a call goes.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    /// The DM with this provider.
    Dm(String),
    /// A group, naming the member that runs it (and its wallet, which agent-coworker matches).
    Group { id: xmtp_client::ConversationId, member: String, wallet: Option<String> },
}

impl Route {
    fn provider(&self) -> &str {
        match self {
            Self::Dm(peer) | Self::Group { member: peer, .. } => peer,
        }
    }
}

/// A successful call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallResult {
    /// The task id.
    pub task_id: String,
    /// The output.
    pub output: Value,
    /// The provider's verified receipt; `None` from providers that sign none (the Python
    /// original).
    pub receipt: Option<SignedReceipt>,
    /// Round trip as the caller measured it.
    pub elapsed: Duration,
}

impl Agent {
    /// An invite code for this agent: name and inbox id, signed by the installation key.
    pub fn invite(&self, expires_at: Option<u64>) -> Result<String> {
        let client = &self.inner.client;
        Ok(Invite::issue(
            &self.inner.config.name,
            client.inbox_id(),
            expires_at,
            client.installation_id(),
            |b| client.sign(b),
        )?)
    }

    /// Connects from an invite code: checks it (signature, expiry, that the signing key is an
    /// installation of that inbox), opens the DM and discovers what the peer shows us.
    pub async fn connect(&self, code: &str) -> Result<Peer> {
        let peer = self.add_peer(code).await?;
        self.discover(&peer.inbox_id).await?;
        self.peer(&peer.inbox_id).await
    }

    /// The first half of [`Agent::connect`]: checks the invite, remembers the peer and opens
    /// the DM, without waiting for the peer (which may be offline).
    pub async fn add_peer(&self, code: &str) -> Result<Peer> {
        let invite = Invite::parse(code, self.now_ms() / 1000)?;
        self.check_invite(&invite).await?;
        self.inner
            .store
            .save_peer_info(
                &invite.inbox_id,
                Some((&invite.name, NameSource::Owner)),
                None,
                self.now_ms(),
            )
            .await?;
        self.dm(&invite.inbox_id).await?;
        self.peer(&invite.inbox_id).await
    }

    /// A known peer.
    pub async fn peer(&self, inbox_id: &str) -> Result<Peer> {
        self.inner
            .store
            .peers()
            .await?
            .into_iter()
            .find(|p| p.inbox_id == inbox_id)
            .ok_or_else(|| RuntimeError::NotFound(format!("peer {inbox_id}")))
    }

    /// A known peer by inbox id or by name. A name resolves only to the one peer the owner
    /// accepted under it (from an invite): never to a peer that merely calls itself so (its
    /// name could be anyone's), and never when two accepted peers share it.
    pub async fn find_peer(&self, text: &str) -> Result<Peer> {
        let text = text.trim();
        let peers = self.inner.store.peers().await?;
        if let Some(peer) = peers.iter().find(|p| p.inbox_id.eq_ignore_ascii_case(text)) {
            return Ok(peer.clone());
        }
        let named = |verified: bool| -> Vec<&Peer> {
            peers
                .iter()
                .filter(|p| p.name_verified == verified && p.name.eq_ignore_ascii_case(text))
                .collect()
        };
        match (named(true).as_slice(), named(false).as_slice()) {
            ([one], _) => Ok((*one).clone()),
            ([], []) => Err(RuntimeError::NotFound(format!("peer {text:?}"))),
            ([], [one, ..]) => Err(RuntimeError::InvalidInput(format!(
                "the peer calling itself {text:?} is unverified ({}); name it by its inbox id",
                one.label()
            ))),
            (many, _) => Err(RuntimeError::InvalidInput(format!(
                "{} peers are named {text:?}; name one by its inbox id",
                many.len()
            ))),
        }
    }

    /// A signed invite must be signed by an installation of the inbox it names.
    pub(crate) async fn check_invite(&self, invite: &Invite) -> Result<()> {
        if let Some(signer) = invite.signer {
            let state = self.inner.client.inbox_state(&invite.inbox_id).await?;
            if !state.installation_keys().any(|k| k == signer) {
                return Err(RuntimeError::InvalidInput(
                    "the invite was not signed by an installation of that inbox".into(),
                ));
            }
        }
        Ok(())
    }

    /// Round trip of a ping.
    pub async fn ping(&self, peer: &str) -> Result<Duration> {
        let started = Instant::now();
        self.request(
            peer,
            kind::PING,
            &envelope::Ping { message: "ping".into() },
            self.inner.config.deadline,
        )
        .await?;
        Ok(started.elapsed())
    }

    /// The skills a peer shows us (saved with the peer).
    pub async fn discover(&self, peer: &str) -> Result<Vec<SkillCard>> {
        self.discover_within(peer, self.inner.config.deadline).await
    }

    /// [`Agent::discover`], waiting at most `wait` for the answer.
    pub async fn discover_within(&self, peer: &str, wait: Duration) -> Result<Vec<SkillCard>> {
        let asker = envelope::Discover {
            name: self.inner.config.name.clone(),
            wallet: self.inner.client.address(),
        };
        let answer = self.request(peer, kind::DISCOVER, &asker, wait).await?;
        if answer.envelope.kind != kind::CAPABILITIES {
            return Err(refusal(&answer).into());
        }
        let mut capabilities: envelope::Capabilities =
            answer.envelope.payload().map_err(|e| CallError::BadAnswer(e.to_string()))?;
        // The original describes inputs in its shorthand: plan and validate with JSON Schema.
        capabilities.skills = capabilities.skills.into_iter().map(SkillCard::normalized).collect();
        // What the peer calls itself never replaces the name from the invite the owner
        // accepted.
        let name = (!capabilities.name.is_empty())
            .then_some((capabilities.name.as_str(), NameSource::Peer));
        self.inner
            .store
            .save_peer_info(peer, name, Some(&capabilities.skills), self.now_ms())
            .await?;
        Ok(capabilities.skills)
    }

    /// Asks a peer to hold us at `tier`; waits for its owner's decision up to `wait`.
    pub async fn request_trust(
        &self,
        peer: &str,
        tier: Tier,
        reason: &str,
        wait: Duration,
    ) -> Result<envelope::TrustAnswer> {
        let request = envelope::TrustRequest {
            requested_tier: u8::from(tier).into(),
            reason: reason.to_owned(),
        };
        let answer = self.request(peer, kind::TRUST_REQUEST, &request, wait).await?;
        match answer.envelope.kind.as_str() {
            kind::TRUST_GRANT | kind::TRUST_DENY => {
                answer.envelope.payload().map_err(|e| CallError::BadAnswer(e.to_string()).into())
            }
            _ => Err(refusal(&answer).into()),
        }
    }

    /// Calls a peer's skill and waits for the answer.
    pub async fn call(
        &self,
        peer: &str,
        skill: &str,
        input: Value,
        options: CallOptions,
    ) -> Result<CallResult> {
        self.call_via(Route::Dm(peer.to_owned()), skill, input, options).await
    }

    /// A call in the DM with the provider or in a group naming it.
    pub(crate) async fn call_via(
        &self,
        route: Route,
        skill: &str,
        input: Value,
        options: CallOptions,
    ) -> Result<CallResult> {
        let peer = route.provider().to_owned();
        let peer = peer.as_str();
        let started = Instant::now();
        let task_id = options.task_id.clone().unwrap_or_else(|| self.uuid());
        let correlation = self.uuid();
        let wait = options.timeout.unwrap_or(self.inner.config.deadline);
        let pending = PendingCall {
            task_id: task_id.clone(),
            skill: skill.to_owned(),
            input_sha256: receipt::digest(&input),
        };
        let answer = self.expect(&correlation, peer);
        // Whoever awaits this call may give up on it (a control client that went away): then
        // nothing waits for the answer any more, and the provider is asked to stop.
        let mut abandoned = Abandoned {
            agent: self.clone(),
            correlation: correlation.clone(),
            peer: matches!(route, Route::Dm(_)).then(|| peer.to_owned()),
            task_id: task_id.clone(),
            armed: options.cancel_if_abandoned,
        };
        if let Err(e) = self
            .send_call(&route, skill, &input, &task_id, &correlation, options.version, wait)
            .await
        {
            abandoned.armed = false;
            self.forget(&correlation);
            return Err(e);
        }
        let waited = tokio::time::timeout(wait, answer).await;
        abandoned.armed = false;
        let Ok(Ok(answer)) = waited else {
            self.forget(&correlation);
            return Err(
                CallError::Timeout(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)).into()
            );
        };
        let (output, receipt) = self.settle(peer, &pending, answer).await?;
        Ok(CallResult { task_id, output, receipt, elapsed: started.elapsed() })
    }

    /// Sends a call without waiting: the answer is stored when it arrives (even after a restart
    /// of either side) and announced as [`AgentEvent::CallFinished`]. Returns the task id.
    pub async fn call_async(&self, peer: &str, skill: &str, input: Value) -> Result<String> {
        let task_id = self.uuid();
        let correlation = self.uuid();
        let pending = PendingCall {
            task_id: task_id.clone(),
            skill: skill.to_owned(),
            input_sha256: receipt::digest(&input),
        };
        self.expect_with(&correlation, peer, Reply::Async(pending));
        let route = Route::Dm(peer.to_owned());
        if let Err(e) = self
            .send_call(&route, skill, &input, &task_id, &correlation, None, Duration::ZERO)
            .await
        {
            self.forget(&correlation);
            return Err(e);
        }
        Ok(task_id)
    }

    /// Asks the provider to stop a task; the call then ends with `CANCELLED` (unless it
    /// finished first).
    pub async fn cancel(&self, peer: &str, task_id: &str) -> Result<()> {
        if self.inner.store.dialect(peer).await? == Some(Dialect::Original) {
            return Err(RuntimeError::InvalidInput(
                "this peer runs agent-coworker, which cannot cancel a task".into(),
            ));
        }
        let conversation = self.dm(peer).await?;
        let cancel = envelope::TaskCancel { task_id: task_id.to_owned() };
        self.send(&conversation, kind::TASK_CANCEL, &cancel, None).await
    }

    /// Every call this agent made, newest first.
    pub async fn calls(&self) -> Result<Vec<crate::store::CallSummary>> {
        self.inner.store.calls().await
    }

    /// An asynchronous call's outcome: `None` while it is pending.
    pub async fn call_result(
        &self,
        task_id: &str,
    ) -> Result<Option<std::result::Result<Value, CallError>>> {
        let Some((status, result)) = self.inner.store.call_result(task_id).await? else {
            return Ok(None);
        };
        let value: Value = serde_json::from_str(&result).unwrap_or(Value::Null);
        let Some(code) = status.failure() else { return Ok(Some(Ok(value))) };
        let message = value.get("error").and_then(Value::as_str).unwrap_or_default().to_owned();
        Ok(Some(Err(CallError::Failed { code, message, violations: Vec::new() })))
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_call(
        &self,
        route: &Route,
        skill: &str,
        input: &Value,
        task_id: &str,
        correlation: &str,
        version: Option<String>,
        wait: Duration,
    ) -> Result<()> {
        let record = CallRecord {
            task_id: task_id.to_owned(),
            correlation_id: correlation.to_owned(),
            peer: route.provider().to_owned(),
            skill: skill.to_owned(),
            input: input.to_string(),
        };
        self.inner.store.insert_call(&record, self.now_ms()).await?;
        let request = TaskRequest {
            skill: skill.to_owned(),
            input: input.clone(),
            skill_version: version,
            is_async: wait.is_zero(),
            task_id: Some(task_id.to_owned()),
            target_wallet: None,
            target_inbox: None,
            requester: None,
            requester_wallet: None,
            deadline_ms: (!wait.is_zero())
                .then(|| u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
        };
        match route {
            Route::Dm(peer) => {
                let conversation = self.dm(peer).await?;
                self.send(&conversation, kind::TASK_REQUEST, &request, Some(correlation)).await
            }
            Route::Group { id, member, wallet } => {
                // The original checks the caller's tier by `requester_wallet`.
                let request = TaskRequest {
                    target_inbox: Some(member.clone()),
                    target_wallet: wallet.clone(),
                    requester: Some(self.inner.config.name.clone()),
                    requester_wallet: Some(self.inner.client.address()),
                    ..request
                };
                self.send(id, kind::GROUP_TASK_REQUEST, &request, Some(correlation)).await
            }
        }
    }

    pub(crate) async fn finish_async_call(&self, peer: &str, call: &PendingCall, answer: Answer) {
        let status = match self.settle(peer, call, answer).await {
            Ok(_) => CallStatus::Completed,
            Err(RuntimeError::Call(CallError::Failed { code, .. })) => CallStatus::failed(code),
            Err(e) => CallStatus::Failed(e.code().to_owned()),
        };
        self.emit(AgentEvent::CallFinished {
            peer: peer.to_owned(),
            task_id: call.task_id.clone(),
            status,
        });
    }

    /// Turns an answer into the call's outcome: verifies the receipt (when the provider signs
    /// one; the Python original does not), stores both, applies failure decay.
    async fn settle(
        &self,
        peer: &str,
        call: &PendingCall,
        answer: Answer,
    ) -> Result<(Value, Option<SignedReceipt>)> {
        let now = self.now_ms();
        let task_id = call.task_id.as_str();
        let kind = answer.envelope.kind.as_str();
        if !matches!(
            kind,
            kind::TASK_RESPONSE
                | kind::TASK_ERROR
                | kind::GROUP_TASK_RESPONSE
                | kind::GROUP_TASK_ERROR
        ) {
            let error = refusal(&answer);
            let CallError::Failed { code, message, .. } = &error else { return Err(error.into()) };
            let body = serde_json::json!({"error": message}).to_string();
            let status = CallStatus::failed(*code);
            self.inner.store.finish_call(task_id, &status, &body, None, now).await?;
            return Err(error.into());
        }
        let result: TaskResult =
            answer.envelope.payload().map_err(|e| CallError::BadAnswer(e.to_string()))?;
        let receipt = match &result.receipt {
            Some(signed) => {
                let installation: [u8; 32] = answer
                    .installation
                    .as_slice()
                    .try_into()
                    .map_err(|_| CallError::BadAnswer("sender installation".into()))?;
                signed.verify(&installation).map_err(|e| CallError::BadAnswer(e.to_string()))?;
                signed
                    .matches(task_id, self.inbox_id(), peer, &call.skill, &call.input_sha256)
                    .map_err(|e| CallError::BadAnswer(e.to_string()))?;
                // It must attest what we got: the outcome, the output, one unit.
                let (status, output) = if result.success {
                    let output = result.result.clone().unwrap_or(Value::Null);
                    (CallStatus::Completed, receipt::digest(&output))
                } else {
                    let code = result.error_code.as_deref().unwrap_or_default();
                    (CallStatus::Failed(code.to_owned()), String::new())
                };
                signed
                    .attests(&status.to_string(), &output)
                    .map_err(|e| CallError::BadAnswer(e.to_string()))?;
                Some(signed.clone())
            }
            None => None,
        };
        let outcome = if result.success {
            CallOutcome::Success
        } else if result.failure_code().is_peer_fault() {
            CallOutcome::PeerFailure
        } else {
            CallOutcome::NotCounted
        };
        self.apply_decay(peer, outcome).await?;
        if result.success {
            let output = result.result.clone().unwrap_or(Value::Null);
            self.inner
                .store
                .finish_call(
                    task_id,
                    &CallStatus::Completed,
                    &output.to_string(),
                    receipt.as_ref(),
                    now,
                )
                .await?;
            Ok((output, receipt))
        } else {
            let code = result.failure_code();
            let message = result.error.clone().unwrap_or_default();
            let body = serde_json::json!({"error": message}).to_string();
            self.inner
                .store
                .finish_call(task_id, &CallStatus::failed(code), &body, receipt.as_ref(), now)
                .await?;
            Err(CallError::Failed { code, message, violations: result.violations }.into())
        }
    }

    async fn apply_decay(&self, peer: &str, outcome: CallOutcome) -> Result<()> {
        let state = self.inner.store.peer_state(peer).await?;
        let (tier, failures) = (state.tier, state.failures);
        let (count, lower) = trust::decay(tier, failures, outcome);
        if count != failures {
            self.inner.store.set_failures(peer, count).await?;
        }
        if let Some(lower) = lower {
            self.change_tier(peer, lower, "failure_decay").await?;
        }
        Ok(())
    }

    /// Receipts this agent holds (as caller and as provider).
    pub async fn receipts(&self) -> Result<Vec<SignedReceipt>> {
        Ok(self.inner.store.receipts().await?.into_iter().map(|(_, r)| r).collect())
    }

    /// Every receipt as CSV (header row first), for accounting; JSON is `receipts()` serialised.
    pub async fn receipts_csv(&self) -> Result<String> {
        Ok(receipt::to_csv(self.receipts().await?.iter()))
    }

    /// OKRs this agent initiated or accepted.
    pub async fn okrs(&self) -> Result<Vec<Okr>> {
        self.inner.store.okrs().await
    }

    /// Works toward a goal with a peer: discovers its skills, plans an OKR from what both
    /// sides may use, proposes it, runs independent steps in parallel, and on completion steps
    /// the peer down one tier. [`Agent::plan_goal`] and [`Agent::start_okr`] in one go.
    pub async fn collaborate(&self, peer: &str, goal: &str) -> Result<Okr> {
        let okr = self.plan_goal(peer, goal).await?;
        self.start_okr(okr).await
    }

    /// Plans a goal with a peer without telling it: discovers its skills and plans an OKR from
    /// what both sides may use, for its owner to review. Nothing is stored or sent.
    pub async fn plan_goal(&self, peer: &str, goal: &str) -> Result<Okr> {
        let theirs = self.discover(peer).await?;
        let tier = self.tier(peer).await?;
        // Our side: only skills the peer may see, so the plan leaks nothing hidden.
        let ours = self.preview(tier);
        let me = self.inbox_id().to_owned();
        let candidates: Vec<Candidate<'_>> = ours
            .iter()
            .map(|card| Candidate { agent: &me, card })
            .chain(theirs.iter().map(|card| Candidate { agent: peer, card }))
            .collect();
        let id = self.uuid();
        let request = PlanRequest {
            id: &id,
            goal,
            initiator: &me,
            peer,
            candidates: &candidates,
            now_ms: self.now_ms(),
        };
        match self.inner.config.planner.plan(&request).await {
            Ok(okr) => Ok(okr),
            Err(e) => {
                tracing::warn!(code = e.code(), "planner failed, planning deterministically: {e}");
                Ok(okr::plan(&id, goal, &me, peer, &candidates, request.now_ms)?)
            }
        }
    }

    /// Proposes a planned OKR (from [`Agent::plan_goal`]) to its peer and, once accepted, runs
    /// it to the end. The peer's owner may take up to [`AgentConfig::plan_wait`] to decide.
    ///
    /// [`AgentConfig::plan_wait`]: crate::AgentConfig::plan_wait
    pub async fn start_okr(&self, mut okr: Okr) -> Result<Okr> {
        if okr.initiator != self.inbox_id() || okr.status != OkrStatus::Proposed {
            return Err(RuntimeError::InvalidInput(
                "only a new plan of this agent can be started".into(),
            ));
        }
        okr.validate().map_err(|e| RuntimeError::InvalidInput(e.to_string()))?;
        if self.inner.store.okr(&okr.id).await?.is_some() {
            return Err(RuntimeError::InvalidInput(format!("OKR {} was already started", okr.id)));
        }
        let peer = okr.peer.clone();
        // Our steps' outputs go to the peer: only skills the peer may call.
        let tier = self.tier(&peer).await?;
        if let Some(step) = okr
            .steps
            .iter()
            .find(|s| s.agent == self.inbox_id() && self.callable(&s.skill, tier).is_none())
        {
            return Err(RuntimeError::InvalidInput(format!(
                "step {} uses {}, which the peer may not call",
                step.id, step.skill
            )));
        }
        self.save_okr(&okr).await?;
        let steps: Vec<Value> = okr
            .steps
            .iter()
            .map(|s| serde_json::json!({"skill": s.skill, "agent": s.agent, "agent_wallet": "", "input": {}}))
            .collect();
        let proposal = serde_json::json!({
            "goal": okr.objective, "steps": steps, "initiator": self.inner.config.name,
            "initiator_wallet": self.inner.client.address(), "okr": okr,
        });
        let answer = match self
            .request(&peer, kind::PLAN_PROPOSE, &proposal, self.inner.config.plan_wait)
            .await
        {
            Ok(answer) => answer,
            Err(e) => {
                okr.status = OkrStatus::Rejected;
                self.save_okr(&okr).await?;
                // Nothing ran: no step-down is due.
                self.inner.store.mark_stepped_down(&okr.id).await?;
                return Err(e);
            }
        };
        if answer.envelope.kind != kind::PLAN_ACCEPT
            || answer.envelope.payload.get("accepted").and_then(Value::as_bool) == Some(false)
        {
            okr.status = OkrStatus::Rejected;
            self.save_okr(&okr).await?;
            self.inner.store.mark_stepped_down(&okr.id).await?;
            return Ok(okr);
        }
        okr.start();
        self.save_okr(&okr).await?;
        self.run_okr(okr).await
    }

    /// Continues the OKRs this agent initiated that were running when it stopped. Each is
    /// checked again as if it came from the peer: a stored plan that fails validation ends,
    /// and every local step is re-checked against the peer's tier when it runs.
    pub(crate) async fn resume_okrs(&self) -> Result<()> {
        let mine = self.inner.store.okrs().await?;
        let mut resumed = JoinSet::new();
        for mut okr in mine.into_iter().filter(|o| o.initiator == self.inbox_id()) {
            if !okr.resume() {
                continue;
            }
            if let Err(e) = okr.validate() {
                tracing::warn!(okr = %okr.id, "a stored OKR is invalid and ends: {e}");
                okr.status = OkrStatus::Failed;
                self.save_okr(&okr).await?;
                continue;
            }
            tracing::info!(okr = %okr.id, "resuming an OKR interrupted by a restart");
            self.save_okr(&okr).await?;
            let agent = self.clone();
            resumed.spawn(async move { agent.run_okr(okr).await });
        }
        while let Some(done) = resumed.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::warn!("a resumed OKR stopped: {e}");
            }
        }
        Ok(())
    }

    /// Runs the ready steps, at most [`okr::MAX_PARALLEL_STEPS`] at once, until the OKR ends;
    /// then the peer steps down (whether it completed or failed).
    async fn run_okr(&self, mut okr: Okr) -> Result<Okr> {
        let okr_id = okr.id.clone();
        let mut running = JoinSet::new();
        loop {
            for index in okr.ready() {
                if running.len() >= okr::MAX_PARALLEL_STEPS {
                    break;
                }
                okr.begin(index);
                let step = okr.steps[index].clone();
                let input = okr.input_for(index);
                let agent = self.clone();
                let peer = okr.peer.clone();
                // One task id per step: a resumed OKR asks again without running it twice.
                let task_id = step_task_id(&okr_id, &step.id);
                running.spawn(async move {
                    let outcome = if step.agent == agent.inbox_id() {
                        agent.run_local(&step.skill, input, &peer).await
                    } else {
                        let options = CallOptions { task_id: Some(task_id), ..Default::default() };
                        agent
                            .call(&step.agent, &step.skill, input, options)
                            .await
                            .map(|r| r.output)
                            .map_err(|e| e.to_string())
                    };
                    (index, outcome)
                });
            }
            let Some(joined) = running.join_next().await else { break };
            let (index, outcome) =
                joined.map_err(|e| RuntimeError::InvalidInput(format!("step task failed: {e}")))?;
            okr.finish(index, outcome);
            // The step-down comes first, so anyone who sees the OKR ended sees it applied.
            if okr.is_terminal() {
                let peer = okr.peer.clone();
                self.step_down_once(&okr, &peer, crate::provide::ended_why(&okr)).await?;
            }
            self.save_okr(&okr).await?;
            self.notify_peer(&okr).await;
        }
        Ok(okr)
    }

    /// One of our own steps in an OKR with `peer`. Its output goes to the peer, so it runs
    /// only if the peer may call that skill now (hidden, under-tier and absent skills alike
    /// fail as unknown).
    async fn run_local(
        &self,
        skill: &str,
        input: Value,
        peer: &str,
    ) -> std::result::Result<Value, String> {
        let tier = self.tier(peer).await.map_err(|e| e.to_string())?;
        let registered =
            self.callable(skill, tier).ok_or_else(|| format!("Unknown skill: {skill}"))?;
        registered.skill.admit(&input, None).map_err(|f| f.message)?;
        let context = crate::handler::CallContext {
            skill: skill.to_owned(),
            caller: self.inbox_id().to_owned(),
            task_id: self.uuid(),
            progress: None,
        };
        let output = tokio::time::timeout(
            self.inner.config.deadline,
            registered.handler.run(input, context),
        )
        .await
        .map_err(|_| "the skill did not finish within its deadline".to_owned())?
        .map_err(|f| f.0)?;
        registered.skill.check_output(&output).map_err(|f| f.message)?;
        Ok(output)
    }

    async fn save_okr(&self, okr: &Okr) -> Result<()> {
        self.inner.store.save_okr(okr, self.now_ms()).await?;
        self.emit(AgentEvent::Okr(okr.clone()));
        Ok(())
    }

    async fn notify_peer(&self, okr: &Okr) {
        // The original has no OKR updates (it would answer each with an error).
        if let Ok(Some(Dialect::Original)) = self.inner.store.dialect(&okr.peer).await {
            return;
        }
        let update = serde_json::json!({"okr": okr});
        if let Ok(conversation) = self.dm(&okr.peer).await {
            let _ = self.send(&conversation, kind::OKR_UPDATE, &update, None).await;
        }
    }
}

/// A call whose caller stopped waiting before the answer: forgets the answer's waiter, records
/// the call as cancelled, and asks the provider to stop the task (DM calls).
struct Abandoned {
    agent: Agent,
    correlation: String,
    peer: Option<String>,
    task_id: String,
    armed: bool,
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.agent.forget(&self.correlation);
        let (agent, peer, task_id) = (self.agent.clone(), self.peer.take(), self.task_id.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let now = agent.now_ms();
                let body = serde_json::json!({"error": "the caller stopped waiting"}).to_string();
                let _ = agent
                    .inner
                    .store
                    .finish_call(
                        &task_id,
                        &CallStatus::failed(FailureCode::Cancelled),
                        &body,
                        None,
                        now,
                    )
                    .await;
                if let Some(peer) = peer {
                    let _ = agent.cancel(&peer, &task_id).await;
                }
            });
        }
    }
}

/// The task id of an OKR step's remote call: a UUID derived from the OKR and step ids.
pub(crate) fn step_task_id(okr: &str, step: &str) -> String {
    let digest = hex::decode(receipt::digest(&serde_json::json!(["okr-step", okr, step])));
    let mut bytes = [0u8; 16];
    if let Some(head) = digest.as_deref().ok().and_then(|d| d.get(..16)) {
        bytes.copy_from_slice(head);
    }
    crate::agent::format_uuid(bytes)
}

/// A non-answer (`error` from the trust gate, or an unexpected type) as a call failure.
fn refusal(answer: &Answer) -> CallError {
    let payload: envelope::ErrorPayload = answer.envelope.payload().unwrap_or_default();
    let code = match payload.code.as_str() {
        "TRUST_TIER_TOO_LOW" | "UNKNOWN_MESSAGE_TYPE" => FailureCode::TrustTierTooLow,
        other => FailureCode::parse(other),
    };
    let message = if payload.message.is_empty() {
        format!("unexpected {}", answer.envelope.kind)
    } else {
        payload.message
    };
    CallError::Failed { code, message, violations: Vec::new() }
}
