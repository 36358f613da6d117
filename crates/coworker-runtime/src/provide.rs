//! Serving peers that passed the trust gate: the dispatch of their requests, and task
//! execution (once per task id, bounded overall and per peer, with deadlines, progress and
//! signed receipts).

use std::time::Instant;

use coworker_protocol::envelope::Dialect;
use coworker_protocol::envelope::{self, Envelope, TaskRequest, TaskResult, kind};
use coworker_protocol::receipt::{self, Receipt};
use coworker_protocol::skill::{self, Failure, FailureCode};
use coworker_protocol::trust::Tier;
use coworker_protocol::{CallStatus, Decision, SkillCard};
use serde_json::Value;
use xmtp_client::ConversationId;

use crate::agent::{Agent, AgentEvent, RunningTask, lock};
use crate::error::Result;
use crate::handler::CallContext;
use crate::store::Claim;

impl Agent {
    pub(crate) async fn on_request(
        &self,
        peer: &str,
        tier: Tier,
        conversation: &ConversationId,
        envelope: Envelope,
    ) -> Result<()> {
        let correlation = envelope.correlation_id.clone();
        let corr = correlation.as_deref();
        match envelope.kind.as_str() {
            kind::PING => {
                let pong =
                    envelope::Ping { message: format!("pong from {}", self.inner.config.name) };
                self.send(conversation, kind::PONG, &pong, corr).await
            }
            // The original's reconnect asks whether our skill list changed; the answer it
            // reads is a capabilities-shaped one, so it gets the list (never a reason to drop
            // its cache of our skills, as an error would make it).
            kind::DISCOVER | kind::GROUP_DISCOVER | kind::AGENT_CARD_QUERY => {
                // The asker's name for itself (informational, unverified) labels an unnamed
                // peer.
                if let Ok(asker) = envelope.payload::<envelope::Discover>() {
                    self.inner.store.name_unnamed_peer(peer, &asker.name, self.now_ms()).await?;
                }
                let group = envelope.kind == kind::GROUP_DISCOVER;
                // Every member of a group reads the answer: it shows only what every member
                // may see (the asker's own view comes from a DM discover).
                let shown =
                    if group { self.group_floor(conversation).await?.min(tier) } else { tier };
                let capabilities = envelope::Capabilities {
                    name: self.inner.config.name.clone(),
                    wallet: if group { self.inner.client.address() } else { String::new() },
                    skills: match envelope.dialect() {
                        // The original's planner fills every key of a schema with the goal:
                        // give it the shorthand it expects.
                        Dialect::Original => {
                            self.preview(shown).iter().map(SkillCard::for_original).collect()
                        }
                        Dialect::Coworker => self.preview(shown),
                    },
                    card_hash: None,
                    your_tier: Some(shown.into()),
                };
                let capabilities = envelope::Capabilities {
                    card_hash: Some(receipt::digest(&serde_json::json!(capabilities.skills))),
                    ..capabilities
                };
                let answer = if envelope.kind == kind::GROUP_DISCOVER {
                    kind::GROUP_CAPABILITIES
                } else {
                    kind::CAPABILITIES
                };
                self.send(conversation, answer, &capabilities, corr).await
            }
            kind::TRUST_REQUEST => self.on_trust_request(peer, tier, conversation, &envelope).await,
            kind::TASK_REQUEST | kind::GROUP_TASK_REQUEST => {
                self.serve_task(peer, tier, conversation, envelope).await
            }
            kind::TASK_CANCEL => {
                let Ok(cancel) = envelope.payload::<envelope::TaskCancel>() else { return Ok(()) };
                if let Some(abort) = lock(&self.inner.running)
                    .get(&(peer.to_owned(), cancel.task_id))
                    .and_then(|task| task.abort.as_ref())
                {
                    abort.abort();
                }
                Ok(())
            }
            kind::PLAN_PROPOSE => self.on_plan(peer, tier, conversation, &envelope).await,
            kind::OKR_UPDATE => self.on_okr_update(peer, &envelope).await,
            // Our agents mirror their group chat as an envelope for the original's agents;
            // we read the plain text they send with it.
            kind::GROUP_MESSAGE if envelope.dialect() == Dialect::Coworker => Ok(()),
            kind::GROUP_MESSAGE => {
                let message: envelope::GroupMessage = envelope.payload().unwrap_or_default();
                self.emit(AgentEvent::Chat {
                    conversation: conversation.to_string(),
                    sender: peer.to_owned(),
                    text: message.text,
                });
                Ok(())
            }
            // The gate lets through only the types above.
            _ => Ok(()),
        }
    }

    /// Runs a task once per (peer, task id), within the deadline and the concurrency bounds,
    /// and answers with the result and a signed receipt. In a group, a result only some
    /// members may see goes to the caller alone, by DM.
    async fn serve_task(
        &self,
        peer: &str,
        tier: Tier,
        conversation: &ConversationId,
        envelope: Envelope,
    ) -> Result<()> {
        let group = envelope.kind == kind::GROUP_TASK_REQUEST;
        let dialect = envelope.dialect();
        let correlation = envelope.correlation_id.clone().unwrap_or_default();
        let request: TaskRequest = match envelope.payload() {
            Ok(request) => request,
            Err(e) => {
                let failure = Failure::new(FailureCode::InvalidInput, e.to_string());
                return self
                    .answer(conversation, group, &correlation, failure_result(&failure, None, 0))
                    .await;
            }
        };
        // The original's synchronous calls carry no task id: their correlation id stands in
        // (kept apart from real task ids in the run-once table). A request with neither runs
        // under a fresh key: it never shares another request's record.
        let task_key = match (&request.task_id, correlation.as_str()) {
            (Some(id), _) if !id.is_empty() => id.clone(),
            (_, "") => format!("anonymous:{}", self.uuid()),
            (_, correlation) => format!("correlation:{correlation}"),
        };
        let task_id = request
            .task_id
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| correlation.clone());
        let Some(registered) = self.callable(&request.skill, tier) else {
            self.audit(
                peer,
                &format!("task_request {}", request.skill),
                Decision {
                    allowed: false,
                    rule: "unknown_skill".into(),
                    reason: "hidden, under-tier or nonexistent skill".into(),
                },
            )
            .await;
            let failure = skill::unknown_skill(&request.skill);
            return self
                .answer(
                    conversation,
                    group,
                    &correlation,
                    failure_result(&failure, request.task_id.clone(), 0),
                )
                .await;
        };
        let reply_to = if group
            && self.callable(&request.skill, self.group_floor(conversation).await?).is_none()
        {
            self.dm(peer).await?
        } else {
            conversation.clone()
        };
        let now = self.now_ms();
        let input_digest = receipt::digest(&request.input);
        let reply = crate::store::ReplyTo {
            conversation: reply_to.0.clone(),
            correlation_id: correlation.clone(),
            group: group && reply_to == *conversation,
        };
        match self
            .inner
            .store
            .claim_task(peer, &task_key, &request.skill, &input_digest, &reply, now)
            .await?
        {
            Claim::Done(stored) => {
                // Ran already: the same answer again, for the new correlation id.
                let result: TaskResult = serde_json::from_str(&stored).unwrap_or_default();
                return self.answer(&reply_to, group, &correlation, result).await;
            }
            Claim::Running => {
                // Running: answer this correlation id too when it ends.
                if let Some(task) =
                    lock(&self.inner.running).get_mut(&(peer.to_owned(), task_key.clone()))
                {
                    task.replies.push((correlation, reply_to));
                }
                return Ok(());
            }
            Claim::Conflict => {
                let failure = Failure::new(
                    FailureCode::InvalidInput,
                    "this task id was used for another request; use a new task id",
                );
                return self
                    .answer(
                        &reply_to,
                        group,
                        &correlation,
                        failure_result(&failure, request.task_id.clone(), 0),
                    )
                    .await;
            }
            Claim::New => {}
        }
        let key = (peer.to_owned(), task_key.clone());
        lock(&self.inner.running).insert(
            key.clone(),
            RunningTask { replies: vec![(correlation.clone(), reply_to.clone())], abort: None },
        );

        let started = Instant::now();
        let outcome = match self.peer_slot(peer, self.task_deadline(&request)).await {
            Ok(_slot) => {
                let progress_to = (dialect == Dialect::Coworker).then_some(&reply_to);
                self.execute(&key, &registered, &request, &task_id, &correlation, progress_to).await
            }
            Err(busy) => Err(busy),
        };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status, output_digest) = match &outcome {
            Ok(output) => (CallStatus::Completed, receipt::digest(output)),
            Err(failure) => (CallStatus::failed(failure.code), String::new()),
        };
        let signed = Receipt {
            id: self.uuid(),
            task_id,
            caller: peer.to_owned(),
            provider: self.inbox_id().to_owned(),
            skill: request.skill.clone(),
            input_sha256: input_digest,
            output_sha256: output_digest,
            started: now,
            duration_ms,
            status: status.to_string(),
            units: 1,
        }
        .sign(self.inner.client.installation_id(), |bytes| self.inner.client.sign(bytes));
        let result = match outcome {
            Ok(output) => TaskResult {
                success: true,
                result: Some(output),
                duration_ms,
                task_id: request.task_id.clone(),
                receipt: Some(signed.clone()),
                ..Default::default()
            },
            Err(failure) => TaskResult {
                receipt: Some(signed.clone()),
                ..failure_result(&failure, request.task_id.clone(), duration_ms)
            },
        };
        let stored = serde_json::to_string(&result).unwrap_or_default();
        // The skill ran: its result must be recorded before it is answered (a retry is answered
        // from the record). While the disk is full, keep trying; the answer waits.
        let mut wait = std::time::Duration::from_millis(250);
        loop {
            let finished = self.inner.store.finish_task(
                peer,
                &task_key,
                &stored,
                Some(&signed),
                self.now_ms(),
            );
            match finished.await {
                Ok(()) => break,
                Err(e) if e.is_storage() => {
                    tracing::warn!(
                        code = e.code(),
                        "recording a task's result failed, retrying: {e}"
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
        let replies = lock(&self.inner.running).remove(&key).map(|t| t.replies).unwrap_or_default();
        for (correlation, conversation) in replies {
            self.answer(&conversation, group, &correlation, result.clone()).await?;
        }
        let done = status == CallStatus::Completed;
        self.emit(AgentEvent::TaskServed {
            peer: peer.to_owned(),
            skill: request.skill.clone(),
            task_id: task_key.clone(),
            status,
        });
        self.after_step_served(peer, &task_key, &request.skill, done).await
    }

    /// Validates, waits for a slot, runs the handler within the deadline, checks the output.
    async fn execute(
        &self,
        key: &(String, String),
        registered: &std::sync::Arc<crate::agent::Registered>,
        request: &TaskRequest,
        task_id: &str,
        correlation: &str,
        progress_to: Option<&ConversationId>,
    ) -> Result<Value, Failure> {
        registered.skill.admit(&request.input, request.skill_version.as_deref())?;
        let deadline = self.task_deadline(request);
        let started = Instant::now();
        let slot = tokio::time::timeout(deadline, self.inner.slots.clone().acquire_owned())
            .await
            .map_err(|_| Failure::new(FailureCode::Busy, "too many tasks in flight; retry later"))?
            .map_err(|_| Failure::new(FailureCode::Busy, "the agent is shutting down"))?;
        let (progress, mut updates) = tokio::sync::mpsc::unbounded_channel();
        let context = CallContext {
            skill: request.skill.clone(),
            caller: key.0.clone(),
            task_id: task_id.to_owned(),
            progress: Some(progress),
        };
        let handler = registered.handler.clone();
        let input = request.input.clone();
        let run = tokio::spawn(async move {
            let _slot = slot;
            handler.run(input, context).await
        });
        if let Some(task) = lock(&self.inner.running).get_mut(key) {
            task.abort = Some(run.abort_handle());
        }
        let remaining = deadline.saturating_sub(started.elapsed());
        let agent = self.clone();
        let (task_id, correlation, conversation) =
            (task_id.to_owned(), correlation.to_owned(), progress_to.cloned());
        // Reports go out in order; when the task ends, the last one still queued (if any) goes
        // out before its answer, the others are passed over.
        let (ended, mut end) = tokio::sync::oneshot::channel::<()>();
        let forward = tokio::spawn(async move {
            loop {
                let (update, last) = tokio::select! {
                    biased;
                    _ = &mut end => (std::iter::from_fn(|| updates.try_recv().ok()).last(), true),
                    update = updates.recv() => (update, false),
                };
                let Some((percent, status_text)) = update else { return };
                // The original knows no progress messages.
                if let Some(conversation) = &conversation {
                    let progress =
                        envelope::TaskProgress { task_id: task_id.clone(), percent, status_text };
                    let _ = agent
                        .send(conversation, kind::TASK_PROGRESS, &progress, Some(&correlation))
                        .await;
                }
                if last {
                    return;
                }
            }
        });
        let abort = run.abort_handle();
        let outcome = tokio::time::timeout(remaining, run).await;
        let forwarding = forward.abort_handle();
        let _ = ended.send(());
        if outcome.is_err() || tokio::time::timeout(PROGRESS_FLUSH, forward).await.is_err() {
            forwarding.abort();
        }
        let output = match outcome {
            Err(_) => {
                abort.abort();
                return Err(Failure::new(
                    FailureCode::Timeout,
                    "the skill did not finish within its deadline",
                ));
            }
            Ok(Err(joined)) if joined.is_cancelled() => {
                return Err(Failure::new(FailureCode::Cancelled, "the task was cancelled"));
            }
            Ok(Err(_)) => {
                tracing::warn!(skill = %request.skill, "skill handler panicked");
                return Err(Failure::new(FailureCode::SkillFailed, "the skill failed"));
            }
            Ok(Ok(Err(failure))) => return Err(Failure::new(FailureCode::SkillFailed, failure.0)),
            Ok(Ok(Ok(output))) => output,
        };
        registered.skill.check_output(&output)?;
        Ok(output)
    }

    /// The agent's deadline, or the caller's if it is shorter.
    fn task_deadline(&self, request: &TaskRequest) -> std::time::Duration {
        let deadline = self.inner.config.deadline;
        match request.deadline_ms.filter(|ms| *ms > 0) {
            Some(ms) => deadline.min(std::time::Duration::from_millis(ms)),
            None => deadline,
        }
    }

    pub(crate) async fn answer(
        &self,
        conversation: &ConversationId,
        group: bool,
        correlation: &str,
        result: TaskResult,
    ) -> Result<()> {
        let message_type = match (group, result.success) {
            (false, true) => kind::TASK_RESPONSE,
            (false, false) => kind::TASK_ERROR,
            (true, true) => kind::GROUP_TASK_RESPONSE,
            (true, false) => kind::GROUP_TASK_ERROR,
        };
        let corr = (!correlation.is_empty()).then_some(correlation);
        // An answer outlives a node restart: sent again while the node is down.
        let until = std::time::Instant::now() + self.inner.config.deadline;
        self.send_until(conversation, message_type, &result, corr, until).await
    }

    /// The lowest tier among a group's other members (unknown members are untrusted): what
    /// every member may see.
    pub(crate) async fn group_floor(&self, conversation: &ConversationId) -> Result<Tier> {
        let members = self.inner.client.conversation(conversation).await?.members;
        let mut floor = Tier::Privileged;
        for member in members.iter().filter(|m| *m != self.inbox_id()) {
            let state = self.peer_state(member).await?;
            floor = floor.min(if state.blocked { Tier::Untrusted } else { state.tier });
        }
        Ok(floor)
    }
}

/// A peer's share of the task slots: [`AgentConfig::max_tasks_per_peer`] run at once, and a
/// bounded number wait for their turn; more are refused as busy at once.
///
/// [`AgentConfig::max_tasks_per_peer`]: crate::AgentConfig::max_tasks_per_peer
#[derive(Debug)]
pub(crate) struct PeerGate {
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    waiting: std::sync::atomic::AtomicUsize,
}

/// Tasks of one peer that may wait for a slot, per slot.
const WAITING_PER_SLOT: usize = 16;

/// How long a task's answer waits for its last progress report to be sent.
const PROGRESS_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

impl Agent {
    /// Waits (within `deadline`) for one of `peer`'s task slots.
    async fn peer_slot(
        &self,
        peer: &str,
        deadline: std::time::Duration,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, Failure> {
        use std::sync::atomic::Ordering;
        let per_peer = self.inner.config.max_tasks_per_peer.max(1);
        let gate = {
            let mut gates = lock(&self.inner.tasks_per_peer);
            if gates.len() > 1_000 {
                // Forget idle peers' gates.
                gates.retain(|_, g| {
                    std::sync::Arc::strong_count(g) > 1 || g.slots.available_permits() < per_peer
                });
            }
            gates
                .entry(peer.to_owned())
                .or_insert_with(|| {
                    std::sync::Arc::new(PeerGate {
                        slots: std::sync::Arc::new(tokio::sync::Semaphore::new(per_peer)),
                        waiting: std::sync::atomic::AtomicUsize::new(0),
                    })
                })
                .clone()
        };
        let busy =
            || Failure::new(FailureCode::Busy, "too many of your tasks are waiting; retry later");
        if let Ok(permit) = gate.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if gate.waiting.fetch_add(1, Ordering::SeqCst) >= per_peer * WAITING_PER_SLOT {
            gate.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy());
        }
        let permit = tokio::time::timeout(deadline, gate.slots.clone().acquire_owned()).await;
        gate.waiting.fetch_sub(1, Ordering::SeqCst);
        match permit {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(busy()),
        }
    }
}

fn failure_result(failure: &Failure, task_id: Option<String>, duration_ms: u64) -> TaskResult {
    TaskResult {
        success: false,
        error: Some(failure.message.clone()),
        error_code: Some(failure.code.as_str().to_owned()),
        violations: failure.violations.clone(),
        duration_ms,
        task_id,
        ..Default::default()
    }
}
