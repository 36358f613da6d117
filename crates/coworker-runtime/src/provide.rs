//! The provider side: answering pings, discovery, trust requests, plans and task requests from
//! peers that passed the trust gate.

use std::time::Instant;

use coworker_protocol::envelope::{self, Envelope, TaskRequest, TaskResult, kind};
use coworker_protocol::receipt::{self, Receipt};
use coworker_protocol::skill::{self, Failure, FailureCode};
use coworker_protocol::trust::{self, Tier, TrustRequestOutcome};
use coworker_protocol::{Decision, Okr};
use serde_json::Value;
use xmtp_client::ConversationId;

use crate::agent::{Agent, AgentEvent, RunningTask, lock};
use crate::error::{Result, RuntimeError};
use crate::handler::CallContext;

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
            kind::DISCOVER | kind::GROUP_DISCOVER => {
                // The asker's name for itself (informational) labels an unnamed peer.
                if let Ok(asker) = envelope.payload::<envelope::Discover>() {
                    let name: String = asker.name.trim().chars().take(64).collect();
                    if !name.is_empty() {
                        self.inner.store.name_unnamed_peer(peer, &name, self.now_ms()).await?;
                    }
                }
                let capabilities = envelope::Capabilities {
                    name: self.inner.config.name.clone(),
                    wallet: if envelope.kind == kind::GROUP_DISCOVER {
                        self.inner.client.address()
                    } else {
                        String::new()
                    },
                    skills: self.preview(tier),
                    your_tier: Some(tier.into()),
                };
                let answer = if envelope.kind == kind::DISCOVER {
                    kind::CAPABILITIES
                } else {
                    kind::GROUP_CAPABILITIES
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

    async fn on_trust_request(
        &self,
        peer: &str,
        tier: Tier,
        conversation: &ConversationId,
        envelope: &Envelope,
    ) -> Result<()> {
        let corr = envelope.correlation_id.as_deref();
        let request: envelope::TrustRequest = match envelope.payload() {
            Ok(request) => request,
            Err(e) => {
                let deny = envelope::TrustAnswer::deny(None, &e.to_string());
                return self.send(conversation, deny.kind(), &deny, corr).await;
            }
        };
        let action = format!("trust_request {}", request.requested_tier);
        match trust::on_trust_request(
            tier,
            &request.requested_tier,
            self.inner.config.auto_grant_ceiling,
        ) {
            TrustRequestOutcome::AlreadyHeld(held) => {
                self.audit(
                    peer,
                    &action,
                    Decision {
                        allowed: true,
                        rule: "already_held".into(),
                        reason: format!("peer already holds {held}; a request never lowers a tier"),
                    },
                )
                .await;
                let grant = envelope::TrustAnswer::grant(held, "already held");
                self.send(conversation, grant.kind(), &grant, corr).await
            }
            TrustRequestOutcome::Granted(granted) => {
                self.change_tier(peer, granted, "auto_grant").await?;
                let grant = envelope::TrustAnswer::grant(granted, "granted by policy");
                self.send(conversation, grant.kind(), &grant, corr).await
            }
            TrustRequestOutcome::NeedsApproval(requested) => {
                let (id, new) = self
                    .inner
                    .store
                    .add_trust_request(peer, requested, &request.reason, corr, self.now_ms())
                    .await?;
                if !new {
                    return Ok(());
                }
                self.audit(
                    peer,
                    &action,
                    Decision {
                        allowed: false,
                        rule: "needs_approval".into(),
                        reason: format!("{requested} needs the owner's approval (request {id})"),
                    },
                )
                .await;
                if let Some(record) =
                    self.inner.store.trust_requests(true).await?.into_iter().find(|r| r.id == id)
                {
                    self.emit(AgentEvent::TrustRequested(record));
                }
                // The answer goes out when the owner decides.
                Ok(())
            }
            TrustRequestOutcome::Invalid(reason) => {
                self.audit(
                    peer,
                    &action,
                    Decision {
                        allowed: false,
                        rule: "invalid_request".into(),
                        reason: reason.clone(),
                    },
                )
                .await;
                let deny = envelope::TrustAnswer::deny(None, &reason);
                self.send(conversation, deny.kind(), &deny, corr).await
            }
        }
    }

    /// Runs a task once per (peer, task id), within the deadline and the concurrency bound,
    /// and answers with the result and a signed receipt.
    async fn serve_task(
        &self,
        peer: &str,
        tier: Tier,
        conversation: &ConversationId,
        envelope: Envelope,
    ) -> Result<()> {
        let group = envelope.kind == kind::GROUP_TASK_REQUEST;
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
        // (kept apart from real task ids in the run-once table).
        let task_id = request.task_id.clone().unwrap_or_else(|| correlation.clone());
        let task_key =
            request.task_id.clone().unwrap_or_else(|| format!("correlation:{correlation}"));
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
        let now = self.now_ms();
        match self.inner.store.claim_task(peer, &task_key, &request.skill, now).await? {
            Some(Some(stored)) => {
                // Ran already: the same answer again, for the new correlation id.
                let result: TaskResult = serde_json::from_str(&stored).unwrap_or_default();
                return self.answer(conversation, group, &correlation, result).await;
            }
            Some(None) => {
                // Running: answer this correlation id too when it ends.
                if let Some(task) =
                    lock(&self.inner.running).get_mut(&(peer.to_owned(), task_key.clone()))
                {
                    task.replies.push((correlation, conversation.clone()));
                }
                return Ok(());
            }
            None => {}
        }
        let key = (peer.to_owned(), task_key.clone());
        lock(&self.inner.running).insert(
            key.clone(),
            RunningTask { replies: vec![(correlation.clone(), conversation.clone())], abort: None },
        );

        let started = Instant::now();
        let input_digest = receipt::digest(&request.input);
        let outcome =
            self.execute(&key, &registered, &request, &task_id, &correlation, conversation).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status, output_digest) = match &outcome {
            Ok(output) => ("completed".to_owned(), receipt::digest(output)),
            Err(failure) => (format!("failed:{}", failure.code.as_str()), String::new()),
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
            status: status.clone(),
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
        self.inner
            .store
            .finish_task(peer, &task_key, &stored, Some(&signed), self.now_ms())
            .await?;
        let replies = lock(&self.inner.running).remove(&key).map(|t| t.replies).unwrap_or_default();
        for (correlation, conversation) in replies {
            self.answer(&conversation, group, &correlation, result.clone()).await?;
        }
        self.emit(AgentEvent::TaskServed {
            peer: peer.to_owned(),
            skill: request.skill,
            task_id: task_key,
            status,
        });
        Ok(())
    }

    /// Validates, waits for a slot, runs the handler within the deadline, checks the output.
    async fn execute(
        &self,
        key: &(String, String),
        registered: &std::sync::Arc<crate::agent::Registered>,
        request: &TaskRequest,
        task_id: &str,
        correlation: &str,
        conversation: &ConversationId,
    ) -> Result<Value, Failure> {
        registered.skill.admit(&request.input, request.skill_version.as_deref())?;
        let mut deadline = self.inner.config.deadline;
        if let Some(ms) = request.deadline_ms.filter(|ms| *ms > 0) {
            deadline = deadline.min(std::time::Duration::from_millis(ms));
        }
        let started = Instant::now();
        let slot = tokio::time::timeout(deadline, self.inner.slots.clone().acquire_owned())
            .await
            .map_err(|_| Failure::new(FailureCode::Busy, "too many tasks in flight; retry later"))?
            .map_err(|_| Failure::new(FailureCode::Busy, "the agent is shutting down"))?;
        let (progress, mut updates) = tokio::sync::mpsc::unbounded_channel();
        let context = CallContext {
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
            (task_id.to_owned(), correlation.to_owned(), conversation.clone());
        let forward = tokio::spawn(async move {
            while let Some((percent, status_text)) = updates.recv().await {
                let progress =
                    envelope::TaskProgress { task_id: task_id.clone(), percent, status_text };
                let _ = agent
                    .send(&conversation, kind::TASK_PROGRESS, &progress, Some(&correlation))
                    .await;
            }
        });
        let abort = run.abort_handle();
        let outcome = tokio::time::timeout(remaining, run).await;
        forward.abort();
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

    async fn answer(
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
        self.send(conversation, message_type, &result, corr).await
    }

    /// A peer proposes an OKR: accepted when every step it asks of us is a skill it may call.
    async fn on_plan(
        &self,
        peer: &str,
        tier: Tier,
        conversation: &ConversationId,
        envelope: &Envelope,
    ) -> Result<()> {
        let corr = envelope.correlation_id.as_deref();
        let goal =
            envelope.payload.get("goal").and_then(Value::as_str).unwrap_or_default().to_owned();
        let okr: Option<Okr> =
            envelope.payload.get("okr").and_then(|o| serde_json::from_value(o.clone()).ok());
        let verdict = match okr {
            None => Err("the plan has no OKR".to_owned()),
            Some(okr) if okr.initiator != peer || okr.peer != self.inbox_id() => {
                Err("the plan names other agents".to_owned())
            }
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
            let reason = "the owner declined the plan";
            let reject =
                serde_json::json!({"goal": okr.objective, "accepted": false, "reason": reason});
            self.send(&proposal.conversation, kind::PLAN_REJECT, &reject, corr).await?;
        }
        self.inner.store.save_okr(&okr, self.now_ms()).await?;
        self.emit(AgentEvent::Okr(okr.clone()));
        Ok(okr)
    }

    /// The initiator reports progress of an OKR we accepted; on completion our view of the
    /// initiator steps down one tier too.
    async fn on_okr_update(&self, peer: &str, envelope: &Envelope) -> Result<()> {
        let Some(update) =
            envelope.payload.get("okr").and_then(|o| serde_json::from_value::<Okr>(o.clone()).ok())
        else {
            return Ok(());
        };
        let known = self.inner.store.okr(&update.id).await?;
        let Some(known) = known.filter(|o| o.initiator == peer) else { return Ok(()) };
        if known.status == update.status && known.steps == update.steps {
            return Ok(());
        }
        let completed_now = known.status != coworker_protocol::okr::OkrStatus::Completed
            && update.status == coworker_protocol::okr::OkrStatus::Completed;
        if completed_now {
            let tier = self.tier(peer).await?;
            if tier.after_okr() != tier {
                self.change_tier(peer, tier.after_okr(), "okr_completed").await?;
            }
        }
        self.inner.store.save_okr(&update, self.now_ms()).await?;
        self.emit(AgentEvent::Okr(update));
        Ok(())
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
