//! Peers and trust: who this agent knows, at which tier, the skills they show, trust requests
//! and their decisions, invites pasted or scanned, and calls to a peer's skills.

use std::time::Duration;

use coworker_host::api::TrustOutcome;
use coworker_host::{Api, HostError};
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::protocol::{CallStatus, RequestStatus};
use coworker_runtime::protocol::{Invite, SkillCard};
use coworker_runtime::{Agent, AuditEntry, CallError, CallOptions, RuntimeError};
use serde::{Deserialize, Serialize};

use crate::AppResult;

/// How long connecting waits for the peer to answer before calling it offline.
const CONNECT_WAIT: Duration = Duration::from_secs(8);

/// A skill as a peer shows it (or as a peer would see mine).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SkillView {
    /// The name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// When to use it.
    pub when_to_use: String,
    /// Input JSON Schema, as pretty JSON text.
    pub input_schema: String,
    /// Output JSON Schema, as pretty JSON text.
    pub output_schema: String,
    /// The lowest tier that may see and call it, 0-3.
    pub min_tier: u8,
}

impl From<&SkillCard> for SkillView {
    fn from(card: &SkillCard) -> Self {
        Self {
            name: card.name.clone(),
            description: card.description.clone(),
            when_to_use: card.when_to_use.clone(),
            input_schema: pretty(&card.input_schema),
            output_schema: pretty(&card.output_schema),
            min_tier: card.min_trust_tier,
        }
    }
}

pub(crate) fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A peer with its badge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct PeerView {
    /// XMTP inbox id.
    pub inbox_id: String,
    /// Its name (from its invite or what it calls itself).
    pub name: String,
    /// Whether the name comes from an invite I accepted; otherwise the peer chose it and it is
    /// shown as unverified.
    pub name_verified: bool,
    /// 24 hex digits of its inbox id, in groups of 8: what to compare, not the name.
    pub fingerprint: String,
    /// The tier I hold it at, 0-3.
    pub tier: u8,
    /// Blocked: everything it sends is refused.
    pub blocked: bool,
    /// The skills it last showed me.
    pub skills: Vec<SkillView>,
    /// When it last sent anything (Unix ms).
    pub last_seen_ms: Option<f64>,
}

impl From<&coworker_runtime::Peer> for PeerView {
    fn from(peer: &coworker_runtime::Peer) -> Self {
        Self {
            inbox_id: peer.inbox_id.clone(),
            name: peer.name.clone(),
            name_verified: peer.name_verified,
            fingerprint: coworker_runtime::fingerprint(&peer.inbox_id),
            tier: peer.tier.into(),
            blocked: peer.blocked,
            skills: peer.skills.iter().map(SkillView::from).collect(),
            last_seen_ms: peer.seen_ms.map(|ms| ms as f64),
        }
    }
}

/// A trust request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct TrustRequestView {
    /// Its id, for approve/deny.
    pub id: u32,
    /// Who asks (inbox id).
    pub peer: String,
    /// Who asks, as the owner should read it: the name the owner accepted, or the peer's own
    /// marked unverified, with 24 hex digits of its inbox id.
    pub who: String,
    /// For which tier, 0-3.
    pub requested: u8,
    /// Their reason.
    pub reason: String,
    /// Where it stands.
    pub status: RequestStatus,
}

impl From<&coworker_runtime::TrustRequestRecord> for TrustRequestView {
    fn from(r: &coworker_runtime::TrustRequestRecord) -> Self {
        Self {
            id: u32::try_from(r.id).unwrap_or(u32::MAX),
            peer: r.peer.clone(),
            who: coworker_runtime::peer_label(&r.peer, "", false),
            requested: r.requested.into(),
            reason: r.reason.clone(),
            status: r.status,
        }
    }
}

/// One trust decision from the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct AuditView {
    /// When (Unix ms).
    pub at_ms: f64,
    /// The peer.
    pub peer: String,
    /// What was attempted.
    pub action: String,
    /// Whether it was allowed.
    pub allowed: bool,
    /// The rule that fired.
    pub rule: String,
    /// Why.
    pub reason: String,
}

impl From<&AuditEntry> for AuditView {
    fn from(e: &AuditEntry) -> Self {
        Self {
            at_ms: e.at_ms as f64,
            peer: e.peer.clone(),
            action: e.action.clone(),
            allowed: e.decision.allowed,
            rule: e.decision.rule.clone(),
            reason: e.decision.reason.clone(),
        }
    }
}

/// Where a call stands, for the UI: `{state: "sent"}`, `{state: "completed"}` or
/// `{state: "failed", code: "TIMEOUT"}` (the provider's or the runtime's code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "state", content = "code", rename_all = "snake_case")]
pub enum CallState {
    /// Sent; no answer yet.
    Sent,
    /// Answered.
    Completed,
    /// Failed, with its code.
    Failed(String),
}

impl From<&CallStatus> for CallState {
    fn from(status: &CallStatus) -> Self {
        match status {
            CallStatus::Sent => Self::Sent,
            CallStatus::Completed => Self::Completed,
            CallStatus::Failed(code) => Self::Failed(code.clone()),
        }
    }
}

/// A call this agent made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct CallView {
    /// The task id.
    pub task_id: String,
    /// The provider.
    pub peer: String,
    /// The skill.
    pub skill: String,
    /// Where it stands.
    pub status: CallState,
    /// When it was sent (Unix ms).
    pub created_ms: f64,
}

impl From<&coworker_runtime::CallSummary> for CallView {
    fn from(c: &coworker_runtime::CallSummary) -> Self {
        Self {
            task_id: c.task_id.clone(),
            peer: c.peer.clone(),
            skill: c.skill.clone(),
            status: CallState::from(&c.status),
            created_ms: c.created_ms as f64,
        }
    }
}

/// What a pasted or scanned invite says, before accepting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct InvitePreview {
    /// The name it carries.
    pub name: String,
    /// The inbox id it points to.
    pub inbox_id: String,
    /// A short label.
    pub short_id: String,
    /// 24 hex digits of the inbox id, in groups of 8: what to compare with the peer out of
    /// band before accepting.
    pub fingerprint: String,
    /// Whether it is signed by an installation key.
    pub signed: bool,
    /// Another peer I already know under this name, if any (a look-alike to beware of).
    pub same_name_as: Option<String>,
}

/// The answer to a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct CallAnswer {
    /// The task id.
    pub task_id: String,
    /// The output, as pretty JSON text.
    pub output: String,
    /// Round trip in milliseconds.
    pub elapsed_ms: f64,
    /// Whether a verified receipt came with it.
    pub receipt: bool,
}

/// The result of accepting an invite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct Connected {
    /// The peer as now known.
    pub peer: PeerView,
    /// Whether it answered.
    pub online: bool,
    /// The trust answer, when a tier was asked for: `granted`, `denied: …` or `pending`.
    pub trust: Option<String>,
}

pub(crate) fn tier(value: u8) -> AppResult<Tier> {
    Tier::try_from(value).map_err(|e| HostError::invalid("trust.tier", e))
}

fn timed_out(e: &RuntimeError) -> bool {
    matches!(e, RuntimeError::Call(CallError::Timeout(_)))
}

/// Every peer, highest tier first.
pub async fn list(agent: &Agent) -> AppResult<Vec<PeerView>> {
    let mut peers: Vec<PeerView> =
        agent.peers().await.map_err(HostError::from)?.iter().map(PeerView::from).collect();
    peers.sort_by(|a, b| b.tier.cmp(&a.tier).then_with(|| a.name.cmp(&b.name)));
    Ok(peers)
}

/// Sets a peer's tier by hand.
pub async fn set_tier(agent: &Agent, peer: &str, value: u8) -> AppResult<PeerView> {
    agent.set_tier(peer, tier(value)?).await.map_err(HostError::from)?;
    agent.peer(peer).await.map(|p| PeerView::from(&p)).map_err(HostError::from)
}

/// Trust requests, newest first.
pub async fn requests(agent: &Agent, pending_only: bool) -> AppResult<Vec<TrustRequestView>> {
    let peers = agent.peers().await.map_err(HostError::from)?;
    let mut list: Vec<TrustRequestView> = agent
        .trust_requests(pending_only)
        .await
        .map_err(HostError::from)?
        .iter()
        .map(|record| {
            let mut view = TrustRequestView::from(record);
            if let Some(peer) = peers.iter().find(|p| p.inbox_id == record.peer) {
                view.who = peer.label();
            }
            view
        })
        .collect();
    list.sort_by_key(|r| std::cmp::Reverse(r.id));
    Ok(list)
}

/// The audit trail, newest first; only `peer`'s when given.
pub async fn audit(agent: &Agent, peer: Option<&str>, limit: u32) -> AppResult<Vec<AuditView>> {
    let entries = match peer {
        Some(peer) => agent.peer_audit_log(peer, limit).await,
        None => agent.audit_log(limit).await,
    };
    Ok(entries.map_err(HostError::from)?.iter().map(AuditView::from).collect())
}

/// Reads an invite code or a `coworker://invite/…` link without accepting it. `known` are the
/// peers I know: an invite naming itself like one of them (with another inbox) is flagged.
pub fn preview_invite(
    text: &str,
    now_secs: u64,
    known: &[coworker_runtime::Peer],
) -> AppResult<InvitePreview> {
    let invite = Invite::parse(text.trim(), now_secs).map_err(HostError::from)?;
    let name = coworker_runtime::protocol::text::one_line(&invite.name, 64);
    let same_name_as = known
        .iter()
        .find(|p| p.inbox_id != invite.inbox_id && p.name.eq_ignore_ascii_case(&name))
        .map(coworker_runtime::Peer::label);
    Ok(InvitePreview {
        short_id: invite.short_id(),
        fingerprint: coworker_runtime::fingerprint(&invite.inbox_id),
        signed: invite.signer.is_some(),
        same_name_as,
        name,
        inbox_id: invite.inbox_id,
    })
}

/// Blocks or unblocks a peer.
pub async fn set_blocked(agent: &Agent, peer: &str, blocked: bool) -> AppResult<PeerView> {
    let result = if blocked { agent.block(peer).await } else { agent.unblock(peer).await };
    result.map_err(HostError::from)?;
    agent.peer(peer).await.map(|p| PeerView::from(&p)).map_err(HostError::from)
}

/// Accepts an invite: adds the peer, asks for its skills and, when `ask` is given, asks it for
/// that tier (a human on the other side may decide later: `pending`).
pub async fn connect(agent: &Agent, code: &str, ask: Option<u8>) -> AppResult<Connected> {
    let ask = ask.map(tier).transpose()?;
    let api = Api::Local(agent.clone());
    let connected =
        api.connect(code.trim(), ask, "asked from the CoWorker app", CONNECT_WAIT).await?;
    let trust = connected.answer.map(|answer| match answer {
        TrustOutcome::Granted { .. } => "granted".to_owned(),
        TrustOutcome::Pending => "pending".to_owned(),
        TrustOutcome::Denied { reason } => format!("denied: {reason}"),
    });
    Ok(Connected { peer: PeerView::from(&connected.peer), online: connected.online, trust })
}

/// Asks a peer for its skills again.
pub async fn refresh(agent: &Agent, peer: &str) -> AppResult<PeerView> {
    match agent.discover_within(peer, CONNECT_WAIT).await {
        Ok(_) => {}
        Err(e) if timed_out(&e) => {
            return Err(HostError::new(
                coworker_host::ErrorKind::Timeout,
                "peer.offline",
                "the peer did not answer; it may be offline",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    agent.peer(peer).await.map(|p| PeerView::from(&p)).map_err(HostError::from)
}

/// Something wrong with a call's input, found before it is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct InputProblem {
    /// JSON Pointer to the value (`""` is the whole input; for a missing property, the object
    /// that lacks it).
    pub path: String,
    /// What is wrong, e.g. `expected integer, got string`.
    pub message: String,
}

/// Checks `input` (JSON text) against a skill's input schema (JSON text, or the original's
/// shorthand) with the validator the peer runs: no problems when it passes. A schema that
/// cannot be read checks nothing here (the peer decides).
pub fn check_input(schema: &str, input: &str) -> Vec<InputProblem> {
    use coworker_runtime::protocol::schema::{Schema, normalize};
    let input: serde_json::Value = match serde_json::from_str(input) {
        Ok(input) => input,
        Err(e) => {
            return vec![InputProblem {
                path: String::new(),
                message: format!("not valid JSON: {e}"),
            }];
        }
    };
    let compiled = serde_json::from_str::<serde_json::Value>(schema)
        .ok()
        .and_then(|schema| normalize(&schema).ok())
        .and_then(|schema| Schema::compile(&schema).ok());
    let Some(compiled) = compiled else { return Vec::new() };
    match compiled.validate(&input) {
        Ok(()) => Vec::new(),
        Err(violations) => violations
            .into_iter()
            .map(|v| InputProblem { path: v.path, message: v.message })
            .collect(),
    }
}

/// Calls a peer's skill with `input` (JSON text) and waits for the answer.
pub async fn call(agent: &Agent, peer: &str, skill: &str, input: &str) -> AppResult<CallAnswer> {
    let input: serde_json::Value = serde_json::from_str(input).map_err(|e| {
        HostError::invalid("call.input_json", format!("the input is not valid JSON: {e}"))
    })?;
    let result =
        agent.call(peer, skill, input, CallOptions::default()).await.map_err(HostError::from)?;
    Ok(CallAnswer {
        task_id: result.task_id,
        output: pretty(&result.output),
        elapsed_ms: result.elapsed.as_secs_f64() * 1000.0,
        receipt: result.receipt.is_some(),
    })
}

/// Calls this agent made, newest first.
pub async fn calls(agent: &Agent) -> AppResult<Vec<CallView>> {
    let mut list: Vec<CallView> =
        agent.calls().await.map_err(HostError::from)?.iter().map(CallView::from).collect();
    list.sort_by(|a, b| b.created_ms.total_cmp(&a.created_ms));
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::check_input;

    const SCHEMA: &str = r#"{"type": "object", "required": ["text", "n"],
        "properties": {"text": {"type": "string", "minLength": 1},
                       "n": {"type": "integer", "minimum": 1},
                       "mode": {"enum": ["fast", "slow"]}}}"#;

    fn paths(schema: &str, input: &str) -> Vec<String> {
        check_input(schema, input)
            .into_iter()
            .map(|p| format!("{} {}", p.path, p.message))
            .collect()
    }

    #[test]
    fn a_good_input_has_no_problems() {
        assert!(paths(SCHEMA, r#"{"text": "hi", "n": 2, "mode": "fast"}"#).is_empty());
    }

    #[test]
    fn each_field_that_breaks_the_schema_is_named() {
        let problems = paths(SCHEMA, r#"{"text": "", "n": "two", "mode": "medium"}"#);
        assert_eq!(problems.len(), 3, "{problems:?}");
        for field in ["/text", "/n", "/mode"] {
            assert!(problems.iter().any(|p| p.starts_with(field)), "{field} in {problems:?}");
        }
        let missing = paths(SCHEMA, r#"{"n": 1}"#);
        assert!(missing.iter().any(|p| p.contains("text")), "{missing:?}");
    }

    #[test]
    fn not_json_is_a_problem_and_an_unreadable_schema_checks_nothing() {
        let problems = check_input(SCHEMA, "{text: 1");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].path.is_empty() && problems[0].message.starts_with("not valid JSON"));
        assert!(check_input("{\"type\": 5}", "{}").is_empty());
    }

    #[test]
    fn the_originals_shorthand_is_checked_too() {
        let problems = paths(r#"{"text": "str"}"#, r#"{"text": 5}"#);
        assert!(problems.iter().any(|p| p.starts_with("/text")), "{problems:?}");
    }
}
