//! Calling a peer's skill: waiting or asynchronous, in a DM or a group, cancelling, settling
//! the answer (its receipt verified, failure decay applied), and the receipts kept.

use std::time::{Duration, Instant};

use coworker_protocol::envelope::{self, Dialect, TaskRequest, TaskResult, kind};
use coworker_protocol::receipt;
use coworker_protocol::skill::FailureCode;
use coworker_protocol::trust::{self, CallOutcome};
use coworker_protocol::{CallStatus, SignedReceipt};
use serde_json::Value;

use crate::agent::{Agent, AgentEvent, Answer, PendingCall, Reply};
use crate::error::{CallError, Result, RuntimeError};
use crate::store::CallRecord;

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

/// How long an asynchronous call's request is sent again while the node cannot be reached.
const ASYNC_RESEND: Duration = Duration::from_secs(60);

impl Agent {
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
        let waited = tokio::time::timeout(wait.saturating_sub(started.elapsed()), answer).await;
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
        // While the node is down (restarting, say) the request is sent again until the call's
        // deadline (an asynchronous call's: a minute).
        let until = std::time::Instant::now() + if wait.is_zero() { ASYNC_RESEND } else { wait };
        match route {
            Route::Dm(peer) => {
                let conversation = self.dm(peer).await?;
                self.send_until(
                    &conversation,
                    kind::TASK_REQUEST,
                    &request,
                    Some(correlation),
                    until,
                )
                .await
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
                self.send_until(id, kind::GROUP_TASK_REQUEST, &request, Some(correlation), until)
                    .await
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

/// A non-answer (`error` from the trust gate, or an unexpected type) as a call failure.
pub(crate) fn refusal(answer: &Answer) -> CallError {
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
