//! Collaborating on a goal, both sides: planning an OKR with a peer, proposing and accepting
//! plans, running our steps and asking the peer for theirs, following the peer's updates,
//! resuming after a restart, expiring stale OKRs, and the trust step-down when one ends.

use coworker_protocol::envelope::{Dialect, Envelope, TaskResult, kind};
use coworker_protocol::okr::{self, Candidate, OkrStatus, StepStatus};
use coworker_protocol::receipt;
use coworker_protocol::trust::Tier;
use coworker_protocol::{Decision, Okr};
use serde_json::Value;
use tokio::task::JoinSet;
use xmtp_client::ConversationId;

use crate::agent::{Agent, AgentEvent, lock};
use crate::call::CallOptions;
use crate::error::{Result, RuntimeError};
use crate::planner::PlanRequest;
use crate::store::Claim;

impl Agent {
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
                        agent.run_local(&step.skill, input, &peer, &task_id).await
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
                self.step_down_once(&okr, &peer, ended_why(&okr)).await?;
            }
            self.save_okr(&okr).await?;
            self.notify_peer(&okr).await;
        }
        Ok(okr)
    }

    /// One of our own steps in an OKR with `peer`. Its output goes to the peer, so it runs
    /// only if the peer may call that skill now (hidden, under-tier and absent skills alike
    /// fail as unknown).
    ///
    /// Like a peer's task, a step runs once per task id: the run-once table records it under
    /// our own inbox (no peer can send as us), so a step a crash interrupted is not run again
    /// when the OKR resumes; it ends as cancelled, as a remote step would.
    async fn run_local(
        &self,
        skill: &str,
        input: Value,
        peer: &str,
        task_id: &str,
    ) -> std::result::Result<Value, String> {
        let tier = self.tier(peer).await.map_err(|e| e.to_string())?;
        let registered =
            self.callable(skill, tier).ok_or_else(|| format!("Unknown skill: {skill}"))?;
        registered.skill.admit(&input, None).map_err(|f| f.message)?;
        let me = self.inbox_id().to_owned();
        let nowhere = crate::store::ReplyTo::default();
        let digest = receipt::digest(&input);
        let claim =
            self.inner.store.claim_task(&me, task_id, skill, &digest, &nowhere, self.now_ms());
        match claim.await.map_err(|e| e.to_string())? {
            Claim::New => {}
            Claim::Done(stored) => {
                let result: TaskResult = serde_json::from_str(&stored).unwrap_or_default();
                return match (result.success, result.result) {
                    (true, Some(output)) => Ok(output),
                    _ => Err(result.error.unwrap_or_else(|| "the step failed".to_owned())),
                };
            }
            Claim::Running | Claim::Conflict => {
                return Err("this step is already running".to_owned());
            }
        }
        let context = crate::handler::CallContext {
            skill: skill.to_owned(),
            caller: me.clone(),
            task_id: task_id.to_owned(),
            progress: None,
        };
        let outcome = tokio::time::timeout(
            self.inner.config.deadline,
            registered.handler.run(input, context),
        )
        .await
        .map_err(|_| "the skill did not finish within its deadline".to_owned())
        .and_then(|done| done.map_err(|f| f.0))
        .and_then(|output| {
            registered.skill.check_output(&output).map_err(|f| f.message)?;
            Ok(output)
        });
        let record = match &outcome {
            Ok(output) => {
                TaskResult { success: true, result: Some(output.clone()), ..TaskResult::default() }
            }
            Err(error) => TaskResult { error: Some(error.clone()), ..TaskResult::default() },
        };
        let stored = serde_json::to_string(&record).unwrap_or_default();
        if let Err(e) =
            self.inner.store.finish_task(&me, task_id, &stored, None, self.now_ms()).await
        {
            tracing::warn!("recording a local step failed: {e}");
        }
        outcome
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

    /// A peer proposes an OKR: accepted when every step it asks of us is a skill it may call.
    pub(crate) async fn on_plan(
        &self,
        peer: &str,
        tier: Tier,
        conversation: &ConversationId,
        envelope: &Envelope,
    ) -> Result<()> {
        let corr = envelope.correlation_id.as_deref();
        let goal =
            envelope.payload.get("goal").and_then(Value::as_str).unwrap_or_default().to_owned();
        let okr: Option<Okr> = match envelope.payload.get("okr") {
            Some(okr) => serde_json::from_value(okr.clone()).ok(),
            // The original proposes steps, not an OKR.
            None => self.original_plan(peer, &goal, envelope),
        };
        let open_with_peer = self
            .inner
            .store
            .okrs()
            .await?
            .iter()
            .filter(|o| o.initiator == peer && !o.is_terminal())
            .count();
        let taken = match &okr {
            Some(okr) => self.inner.store.okr(&okr.id).await?.is_some(),
            None => false,
        };
        let verdict = match okr {
            None => Err("the plan has no OKR".to_owned()),
            Some(okr) if okr.initiator != peer || okr.peer != self.inbox_id() => {
                Err("the plan names other agents".to_owned())
            }
            Some(_) if taken => Err("an OKR with this id exists already".to_owned()),
            Some(_) if open_with_peer >= MAX_OPEN_OKRS_PER_PEER => Err(format!(
                "{MAX_OPEN_OKRS_PER_PEER} of your plans are open already; finish one first"
            )),
            Some(okr) => okr.validate().map_err(|e| e.to_string()).and_then(|()| {
                let mine = okr.steps.iter().filter(|s| s.agent == self.inbox_id());
                match mine.into_iter().find(|s| self.callable(&s.skill, tier).is_none()) {
                    Some(step) => Err(format!("Unknown skill: {}", step.skill)),
                    None => Ok(okr),
                }
            }),
        };
        match verdict {
            Ok(okr) if self.inner.config.plan_approval => {
                lock(&self.inner.peer_plans).insert(peer.to_owned());
                self.inner.store.save_okr(&okr, self.now_ms()).await?;
                let proposal = crate::agent::Proposal {
                    conversation: conversation.clone(),
                    correlation_id: envelope.correlation_id.clone(),
                };
                lock(&self.inner.proposals).insert(okr.id.clone(), proposal);
                self.emit(AgentEvent::PlanProposed(okr));
                Ok(())
            }
            Ok(mut okr) => {
                okr.start();
                lock(&self.inner.peer_plans).insert(peer.to_owned());
                self.inner.store.save_okr(&okr, self.now_ms()).await?;
                self.emit(AgentEvent::Okr(okr.clone()));
                let accept = serde_json::json!({"goal": goal, "accepted": true, "okr_id": okr.id});
                self.send(conversation, kind::PLAN_ACCEPT, &accept, corr).await
            }
            Err(reason) => {
                self.audit(
                    peer,
                    "plan_propose",
                    Decision {
                        allowed: false,
                        rule: "plan_rejected".into(),
                        reason: reason.clone(),
                    },
                )
                .await;
                let reject = serde_json::json!({"goal": goal, "accepted": false, "reason": reason});
                self.send(conversation, kind::PLAN_REJECT, &reject, corr).await
            }
        }
    }

    /// A plan the Python original proposed (`{goal, steps: [{skill, agent, agent_wallet,
    /// input}], initiator, initiator_wallet}`) as an OKR: the steps naming our address, inbox id
    /// or name are ours, the rest the proposer's.
    fn original_plan(&self, peer: &str, goal: &str, envelope: &Envelope) -> Option<Okr> {
        let steps: Vec<coworker_protocol::okr::OriginalStep> =
            serde_json::from_value(envelope.payload.get("steps")?.clone()).ok()?;
        let (inbox, address) = (self.inbox_id().to_owned(), self.inner.client.address());
        let ours = |step: &coworker_protocol::okr::OriginalStep| {
            step.agent_wallet.eq_ignore_ascii_case(&address)
                || step.agent_wallet.eq_ignore_ascii_case(&inbox)
                || (step.agent_wallet.is_empty() && step.agent == self.inner.config.name)
        };
        Okr::from_original(&self.uuid(), goal, peer, &inbox, &steps, ours, self.now_ms()).ok()
    }

    /// The owner's answer to a plan a peer proposed ([`AgentEvent::PlanProposed`]). Only
    /// proposals received since this agent started can be answered (the proposer stops waiting
    /// after its own `plan_wait` anyway).
    pub async fn decide_plan(&self, okr_id: &str, accept: bool) -> Result<Okr> {
        let not_found = || RuntimeError::NotFound(format!("plan {okr_id} waiting for a decision"));
        let proposal = lock(&self.inner.proposals).remove(okr_id).ok_or_else(not_found)?;
        let mut okr = self.inner.store.okr(okr_id).await?.ok_or_else(not_found)?;
        let corr = proposal.correlation_id.as_deref();
        if accept {
            okr.start();
            let accept =
                serde_json::json!({"goal": okr.objective, "accepted": true, "okr_id": okr.id});
            self.send(&proposal.conversation, kind::PLAN_ACCEPT, &accept, corr).await?;
        } else {
            okr.status = coworker_protocol::okr::OkrStatus::Rejected;
            self.inner.store.mark_stepped_down(&okr.id).await?;
            let reason = "the owner declined the plan";
            let reject =
                serde_json::json!({"goal": okr.objective, "accepted": false, "reason": reason});
            self.send(&proposal.conversation, kind::PLAN_REJECT, &reject, corr).await?;
        }
        self.inner.store.save_okr(&okr, self.now_ms()).await?;
        self.emit(AgentEvent::Okr(okr.clone()));
        Ok(okr)
    }

    /// The initiator reports progress of an OKR we accepted. Only step statuses and outputs
    /// are taken, and only from the initiator; the plan stays the one we accepted
    /// ([`Okr::apply_update`]). When it ends, in any way, the initiator steps down.
    pub(crate) async fn on_okr_update(&self, peer: &str, envelope: &Envelope) -> Result<()> {
        let refuse =
            |reason: String| Decision { allowed: false, rule: "okr_update_refused".into(), reason };
        let update =
            match envelope.payload.get("okr").map(|o| serde_json::from_value::<Okr>(o.clone())) {
                Some(Ok(update)) => update,
                Some(Err(e)) => {
                    self.audit(peer, "okr_update", refuse(format!("malformed OKR: {e}"))).await;
                    return Ok(());
                }
                None => {
                    self.audit(peer, "okr_update", refuse("no OKR in the update".into())).await;
                    return Ok(());
                }
            };
        let stored = self.inner.store.okr(&update.id).await?;
        let Some(mut stored) = stored.filter(|o| o.initiator == peer && o.peer == self.inbox_id())
        else {
            let reason = "not an OKR this peer initiated with us".to_owned();
            self.audit(peer, "okr_update", refuse(reason)).await;
            return Ok(());
        };
        match stored.apply_update(&update) {
            Err(e) => {
                self.audit(peer, "okr_update", refuse(e.to_string())).await;
            }
            Ok(false) => {}
            Ok(true) => {
                self.inner.store.save_okr(&stored, self.now_ms()).await?;
                if stored.is_terminal() {
                    self.step_down_once(&stored, peer, ended_why(&stored)).await?;
                }
                self.emit(AgentEvent::Okr(stored));
            }
        }
        Ok(())
    }

    /// The trust step-down that ends a collaboration, applied once per OKR to `other` (the
    /// other party): one tier down, never below KNOWN by this rule.
    /// `why`: `okr_completed`, `okr_ended` (failed), `okr_expired` or `okr_steps_served`.
    pub(crate) async fn step_down_once(&self, okr: &Okr, other: &str, why: &str) -> Result<()> {
        if !self.inner.store.mark_stepped_down(&okr.id).await? {
            return Ok(());
        }
        let tier = self.tier(other).await?;
        if tier.after_okr() != tier {
            self.change_tier(other, tier.after_okr(), why).await?;
        }
        Ok(())
    }

    /// After serving a task: if it was the last of our steps in an OKR the caller initiated,
    /// our part is over and the caller steps down now, whatever it reports later. Steps are
    /// matched by their task ids; the original calls without one, so its plans' steps are
    /// matched by skill, and since it never reports progress, its OKR ends with our last step.
    pub(crate) async fn after_step_served(
        &self,
        peer: &str,
        task_key: &str,
        skill: &str,
        done: bool,
    ) -> Result<()> {
        if !lock(&self.inner.peer_plans).contains(peer) {
            return Ok(());
        }
        if task_key.starts_with("correlation:") {
            return self.original_step_served(peer, skill, done).await;
        }
        let mut open = false;
        for (okr, _) in self.inner.store.okrs_not_stepped_down().await? {
            if okr.initiator != peer
                || okr.peer != self.inbox_id()
                || okr.status != OkrStatus::Running
            {
                continue;
            }
            open = true;
            let ours: Vec<String> = okr
                .steps
                .iter()
                .filter(|s| s.agent == self.inbox_id())
                .map(|s| step_task_id(&okr.id, &s.id))
                .collect();
            if !ours.iter().any(|t| t == task_key) {
                continue;
            }
            if self.inner.store.served_count(peer, &ours).await? == ours.len() {
                self.step_down_once(&okr, peer, "okr_steps_served").await?;
            }
        }
        if !open {
            lock(&self.inner.peer_plans).remove(peer);
        }
        Ok(())
    }

    async fn original_step_served(&self, peer: &str, skill: &str, done: bool) -> Result<()> {
        let me = self.inbox_id().to_owned();
        for (mut okr, _) in self.inner.store.okrs_not_stepped_down().await? {
            if okr.initiator != peer || okr.peer != me || okr.status != OkrStatus::Running {
                continue;
            }
            let Some(step) = okr
                .steps
                .iter_mut()
                .find(|s| s.agent == me && s.skill == skill && s.status == StepStatus::Pending)
            else {
                continue;
            };
            step.status = if done { StepStatus::Done } else { StepStatus::Failed };
            let ours_settled =
                okr.steps.iter().filter(|s| s.agent == me).all(|s| s.status != StepStatus::Pending);
            if ours_settled {
                let all_done = okr
                    .steps
                    .iter()
                    .filter(|s| s.agent == me)
                    .all(|s| s.status == StepStatus::Done);
                for theirs in okr.steps.iter_mut().filter(|s| s.agent != me) {
                    theirs.status = StepStatus::Skipped;
                    theirs.error = Some("run by the peer, which does not report it".into());
                }
                okr.status = if all_done { OkrStatus::Completed } else { OkrStatus::Failed };
                self.step_down_once(&okr, peer, ended_why(&okr)).await?;
            }
            self.inner.store.save_okr(&okr, self.now_ms()).await?;
            self.emit(AgentEvent::Okr(okr));
            return Ok(());
        }
        Ok(())
    }

    /// Ends accepted OKRs of peers that made no progress for [`AgentConfig::okr_expiry`]: their
    /// initiators step down as if they had finished.
    ///
    /// [`AgentConfig::okr_expiry`]: crate::AgentConfig::okr_expiry
    pub(crate) async fn expire_okrs(&self) -> Result<()> {
        let expiry = u64::try_from(self.inner.config.okr_expiry.as_millis()).unwrap_or(u64::MAX);
        let now = self.now_ms();
        for (mut okr, updated_ms) in self.inner.store.okrs_not_stepped_down().await? {
            let theirs = okr.initiator != self.inbox_id() && okr.status == OkrStatus::Running;
            if !theirs || now.saturating_sub(updated_ms) < expiry {
                continue;
            }
            okr.status = OkrStatus::Failed;
            for step in okr
                .steps
                .iter_mut()
                .filter(|s| matches!(s.status, StepStatus::Pending | StepStatus::Running))
            {
                step.status = StepStatus::Skipped;
                step.error = Some(EXPIRED.into());
            }
            self.inner.store.save_okr(&okr, now).await?;
            let initiator = okr.initiator.clone();
            self.step_down_once(&okr, &initiator, "okr_expired").await?;
            self.emit(AgentEvent::Okr(okr));
        }
        Ok(())
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

/// Why an ended OKR steps its peer down.
pub(crate) fn ended_why(okr: &Okr) -> &'static str {
    if okr.status == OkrStatus::Completed { "okr_completed" } else { "okr_ended" }
}

/// Open (not ended) OKRs one peer may have with us at once.
const MAX_OPEN_OKRS_PER_PEER: usize = 8;

/// The error of steps that never ran because their OKR expired.
const EXPIRED: &str = "expired: no progress within the agent's OKR expiry";
