//! The v1 JSON envelope, wire-compatible with agent-coworker 0.6.1, and the typed payloads of
//! its message types plus our additive ones.
//!
//! An envelope travels as the text of an XMTP `xmtp.org/text:1.0` message:
//!
//! ```json
//! {"protocol":"coworker","version":"1.0","type":"task_request","payload":{...},
//!  "timestamp":"2026-11-24T10:00:00.000000+00:00","ttl":3600,"sender_id":"my-bot",
//!  "correlation_id":"<uuid>","sender_wallet":"0x…"}
//! ```
//!
//! `sender_id` and `sender_wallet` are informational only: who sent a message is the
//! XMTP-authenticated inbox of the message, never a field of the envelope. Unknown fields are
//! ignored on input, and the fields we add (`task_id`, `receipt`, `violations`, …) are ones the
//! Python original ignores.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::skill::SkillCard;

/// The `protocol` field of every envelope.
pub const PROTOCOL: &str = "coworker";
/// The envelope version we send.
pub const VERSION: &str = "1.0";
/// Largest envelope we parse or send (the JSON text, bytes).
pub const MAX_ENVELOPE_BYTES: usize = 1024 * 1024;
/// The `ttl` we send: the Python original drops envelopes older than their `ttl`, so requests
/// that may wait offline (store-and-forward) say a week. We never drop by age ourselves.
pub const TTL_SECONDS: u64 = 7 * 24 * 3600;

/// A v1 envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Always [`PROTOCOL`].
    pub protocol: String,
    /// `"1.0"`; any `1.x` is accepted.
    pub version: String,
    /// The message type (`ping`, `task_request`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Type-specific fields.
    #[serde(default)]
    pub payload: Map<String, Value>,
    /// When it was sent, ISO-8601 UTC (informational).
    #[serde(default)]
    pub timestamp: String,
    /// Seconds the sender considers it fresh (informational for us).
    #[serde(default, deserialize_with = "crate::lenient::u64")]
    pub ttl: u64,
    /// The sender's self-chosen name (informational, never an identity).
    #[serde(default)]
    pub sender_id: String,
    /// Pairs a response with its request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The sender's self-declared wallet (informational, never an identity).
    #[serde(default)]
    pub sender_wallet: String,
    /// Which implementation wrote it ([`IMPLEMENTATION`] for ours; the Python original writes
    /// none). Tells which of our additions a peer understands, never who it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<String>,
}

/// The `implementation` our envelopes carry.
pub const IMPLEMENTATION: &str = "coworker-rs";

/// Which protocol a peer speaks, as far as its envelopes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// Ours: the v1 envelopes plus task ids, receipts, progress, cancel, OKR updates.
    Coworker,
    /// agent-coworker 0.6.1: the v1 envelopes only, shorthand schemas, plans without an OKR.
    Original,
}

impl Dialect {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Coworker => "coworker",
            Self::Original => "original",
        }
    }

    /// From the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "coworker" => Some(Self::Coworker),
            "original" => Some(Self::Original),
            _ => None,
        }
    }
}

/// Why a text is not a usable envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Larger than [`MAX_ENVELOPE_BYTES`].
    #[error("envelope of {0} bytes exceeds the {MAX_ENVELOPE_BYTES}-byte limit")]
    TooLarge(usize),
    /// Claims to be a CoWorker envelope but does not parse as one.
    #[error("malformed envelope: {0}")]
    Malformed(String),
    /// A major version we do not speak.
    #[error("unsupported envelope version {0:?}")]
    Version(String),
    /// A payload lacks a field its type requires, or has the wrong shape.
    #[error("malformed {kind} payload: {reason}")]
    Payload {
        /// The message type.
        kind: String,
        /// What is wrong.
        reason: String,
    },
}

impl EnvelopeError {
    /// A stable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "envelope.too_large",
            Self::Malformed(_) => "envelope.malformed",
            Self::Version(_) => "envelope.version",
            Self::Payload { .. } => "envelope.payload",
        }
    }
}

impl Envelope {
    /// A new envelope. `now_ms` is the sender's clock (Unix milliseconds).
    pub fn new(kind: &str, payload: Map<String, Value>, sender: &Sender, now_ms: u64) -> Self {
        Self {
            protocol: PROTOCOL.to_owned(),
            version: VERSION.to_owned(),
            kind: kind.to_owned(),
            payload,
            timestamp: iso8601(now_ms),
            ttl: TTL_SECONDS,
            sender_id: sender.name.clone(),
            correlation_id: None,
            sender_wallet: sender.wallet.clone(),
            implementation: Some(IMPLEMENTATION.to_owned()),
        }
    }

    /// Which protocol its sender speaks.
    pub fn dialect(&self) -> Dialect {
        match self.implementation.as_deref() {
            Some(IMPLEMENTATION) => Dialect::Coworker,
            _ => Dialect::Original,
        }
    }

    /// With a correlation id.
    #[must_use]
    pub fn correlated(mut self, correlation_id: &str) -> Self {
        self.correlation_id = Some(correlation_id.to_owned());
        self
    }

    /// Parses an XMTP text. `Ok(None)` means it is not a CoWorker envelope at all (plain chat):
    /// only text that is a JSON object with `"protocol": "coworker"` is one.
    pub fn parse(text: &str) -> Result<Option<Self>, EnvelopeError> {
        if text.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge(text.len()));
        }
        if !text.trim_start().starts_with('{') {
            return Ok(None);
        }
        let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
            return Ok(None);
        };
        if object.get("protocol").and_then(Value::as_str) != Some(PROTOCOL) {
            return Ok(None);
        }
        let envelope: Self = serde_json::from_value(Value::Object(object))
            .map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        if envelope.version.split('.').next() != Some("1") {
            return Err(EnvelopeError::Version(envelope.version));
        }
        if envelope.kind.is_empty() || envelope.kind.len() > 64 {
            return Err(EnvelopeError::Malformed("missing or oversized type".into()));
        }
        if envelope.correlation_id.as_ref().is_some_and(|c| c.len() > 128) {
            return Err(EnvelopeError::Malformed("oversized correlation_id".into()));
        }
        Ok(Some(envelope))
    }

    /// The JSON text to send.
    pub fn to_text(&self) -> String {
        // Serialising a struct of strings, numbers and JSON values cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The typed payload.
    pub fn payload<T: serde::de::DeserializeOwned>(&self) -> Result<T, EnvelopeError> {
        serde_json::from_value(Value::Object(self.payload.clone()))
            .map_err(|e| EnvelopeError::Payload { kind: self.kind.clone(), reason: e.to_string() })
    }
}

/// What we say about ourselves in envelopes (informational only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sender {
    /// The agent's display name.
    pub name: String,
    /// Our Ethereum address: the Python original replies to it.
    pub wallet: String,
}

/// Message types. The first group is agent-coworker 0.6.1's; the rest are ours and additive.
pub mod kind {
    #![allow(missing_docs)]
    pub const PING: &str = "ping";
    pub const PONG: &str = "pong";
    pub const DISCOVER: &str = "discover";
    pub const CAPABILITIES: &str = "capabilities";
    pub const TRUST_REQUEST: &str = "trust_request";
    pub const TRUST_GRANT: &str = "trust_grant";
    pub const TRUST_DENY: &str = "trust_deny";
    pub const TASK_REQUEST: &str = "task_request";
    pub const TASK_RESPONSE: &str = "task_response";
    pub const TASK_ERROR: &str = "task_error";
    pub const PLAN_PROPOSE: &str = "plan_propose";
    pub const PLAN_ACCEPT: &str = "plan_accept";
    pub const PLAN_REJECT: &str = "plan_reject";
    pub const GROUP_MESSAGE: &str = "group_message";
    pub const GROUP_DISCOVER: &str = "group_discover";
    pub const GROUP_CAPABILITIES: &str = "group_capabilities";
    pub const GROUP_TASK_REQUEST: &str = "group_task_request";
    pub const GROUP_TASK_RESPONSE: &str = "group_task_response";
    pub const GROUP_TASK_ERROR: &str = "group_task_error";
    pub const ERROR: &str = "error";
    // Ours.
    pub const TASK_PROGRESS: &str = "task_progress";
    pub const TASK_CANCEL: &str = "task_cancel";
    pub const OKR_UPDATE: &str = "okr_update";
    /// The original's reconnect check: "is your skill list still the one with this hash?"
    pub const AGENT_CARD_QUERY: &str = "agent_card_query";

    /// Types that answer a request we sent (matched against an outstanding correlation id).
    pub const RESPONSES: &[&str] = &[
        PONG,
        CAPABILITIES,
        TRUST_GRANT,
        TRUST_DENY,
        TASK_RESPONSE,
        TASK_ERROR,
        PLAN_ACCEPT,
        PLAN_REJECT,
        GROUP_CAPABILITIES,
        GROUP_TASK_RESPONSE,
        GROUP_TASK_ERROR,
        ERROR,
        TASK_PROGRESS,
    ];
}

/// `ping`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ping {
    /// Free text.
    #[serde(default)]
    pub message: String,
}

/// `discover` / `group_discover`: who asks (informational).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Discover {
    /// The asker's name.
    #[serde(default)]
    pub name: String,
    /// The asker's wallet.
    #[serde(default)]
    pub wallet: String,
}

/// `capabilities` / `group_capabilities`: the skills the asker may see.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The provider's name.
    #[serde(default)]
    pub name: String,
    /// The provider's wallet (group form).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wallet: String,
    /// Skills visible at the asker's tier (cards we cannot read are left out).
    #[serde(default, deserialize_with = "crate::lenient::cards")]
    pub skills: Vec<SkillCard>,
    /// A digest of `skills`, for the original's reconnect check (`agent_card_query`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_hash: Option<String>,
    /// The tier the provider holds the asker at (ours).
    #[serde(
        default,
        deserialize_with = "crate::lenient::tier",
        skip_serializing_if = "Option::is_none"
    )]
    pub your_tier: Option<u8>,
}

/// `trust_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustRequest {
    /// 0-3 (the Python original sends an integer).
    pub requested_tier: Value,
    /// Why (shown to the approving human).
    #[serde(default)]
    pub reason: String,
}

/// `trust_grant` and `trust_deny`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrustAnswer {
    /// `true` for a grant.
    pub granted: bool,
    /// The tier now held (grants).
    #[serde(
        default,
        deserialize_with = "crate::lenient::tier",
        skip_serializing_if = "Option::is_none"
    )]
    pub granted_tier: Option<u8>,
    /// The tier that was asked for (denials).
    #[serde(
        default,
        deserialize_with = "crate::lenient::tier",
        skip_serializing_if = "Option::is_none"
    )]
    pub requested_tier: Option<u8>,
    /// Why.
    #[serde(default)]
    pub reason: String,
    /// `pending` while a human decides (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl TrustAnswer {
    /// A grant: the asker now holds `tier`.
    pub fn grant(tier: crate::trust::Tier, reason: &str) -> Self {
        Self {
            granted: true,
            granted_tier: Some(tier.into()),
            reason: reason.to_owned(),
            ..Self::default()
        }
    }

    /// A denial of `requested` (if it was a valid tier).
    pub fn deny(requested: Option<crate::trust::Tier>, reason: &str) -> Self {
        Self {
            granted: false,
            requested_tier: requested.map(u8::from),
            reason: reason.to_owned(),
            ..Self::default()
        }
    }

    /// `trust_grant` or `trust_deny`.
    pub fn kind(&self) -> &'static str {
        if self.granted { kind::TRUST_GRANT } else { kind::TRUST_DENY }
    }
}

/// `task_request` / `group_task_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRequest {
    /// The skill's name.
    pub skill: String,
    /// The input object.
    #[serde(default)]
    pub input: Value,
    /// Exact version wanted, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill_version: Option<String>,
    /// Asynchronous delegation (the answer may come much later).
    #[serde(default, rename = "async", skip_serializing_if = "std::ops::Not::not")]
    pub is_async: bool,
    /// The idempotency key: retries reuse it and the provider runs a task once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Group form: the member asked to run it (empty = anyone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_wallet: Option<String>,
    /// Group form, ours: the inbox id of the member asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_inbox: Option<String>,
    /// Milliseconds the caller will wait (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Group form: the caller's name, as the original sends it (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// Group form: the caller's wallet; the original looks the caller's tier up by it, so we
    /// send our own (informational for us: the tier comes from the authenticated sender).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_wallet: Option<String>,
}

/// `task_response` (`success: true`) and `task_error` (`success: false`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// Whether the skill ran and returned valid output.
    pub success: bool,
    /// The output (success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// A human-readable error (failure). Never internals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A stable error code (failure), e.g. `UNKNOWN_SKILL`, `INVALID_INPUT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Schema violations of the input or output (ours).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<crate::schema::Violation>,
    /// Execution time (the original sends a float).
    #[serde(default, deserialize_with = "crate::lenient::u64")]
    pub duration_ms: u64,
    /// The task id (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// The provider's signed receipt (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<crate::receipt::SignedReceipt>,
    /// Version mismatch details (the original's `VERSION_MISMATCH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_version: Option<String>,
}

impl TaskResult {
    /// Why it failed: the stable code when the provider gave one, else what the original's
    /// messages mean (`Unknown skill: X` is an unknown skill, not the skill failing).
    pub fn failure_code(&self) -> crate::skill::FailureCode {
        use crate::skill::FailureCode;
        match self.error_code.as_deref() {
            Some(code) => FailureCode::parse(code),
            None if self.error.as_deref().is_some_and(|e| e.starts_with("Unknown skill")) => {
                FailureCode::UnknownSkill
            }
            None => FailureCode::SkillFailed,
        }
    }
}

/// `task_progress` (ours).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskProgress {
    /// The task.
    pub task_id: String,
    /// 0-100.
    #[serde(default)]
    pub percent: u8,
    /// What is happening.
    #[serde(default)]
    pub status_text: String,
}

/// `task_cancel` (ours).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskCancel {
    /// The task to cancel.
    pub task_id: String,
}

/// `error`: a request was refused before any skill ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorPayload {
    /// Stable code, e.g. `TRUST_TIER_TOO_LOW`.
    pub code: String,
    /// Human-readable reason.
    pub message: String,
}

/// `group_message`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupMessage {
    /// The text (agent-coworker writes `text`; `content` is read too).
    #[serde(default, alias = "content")]
    pub text: String,
    /// The sender's display name (informational, never identity).
    #[serde(default)]
    pub sender: String,
    /// The sender's wallet as it claims (informational, never identity).
    #[serde(default)]
    pub sender_wallet: String,
}

/// Serialises a payload struct into the envelope's payload map.
pub fn to_payload<T: Serialize>(payload: &T) -> Map<String, Value> {
    match serde_json::to_value(payload) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Unix milliseconds as ISO-8601 UTC with microseconds and `+00:00`, the form Python's
/// `datetime.now(timezone.utc).isoformat()` produces and `fromisoformat` reads.
pub fn iso8601(unix_ms: u64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_of_the_original_parse_whatever_shape_their_numbers_take() {
        let answer = Envelope::parse(
            r#"{"protocol":"coworker","version":"1.0","type":"task_response","ttl":3600.0,
            "payload":{"success":true,"result":{"echo":"hi"},"duration_ms":0.1},
            "timestamp":"2026-12-02T10:00:00.000000+00:00","sender_id":"py","sender_wallet":"0xab"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(answer.dialect(), Dialect::Original);
        let result: TaskResult = answer.payload().unwrap();
        assert!(result.success && result.duration_ms == 0);
        let unknown: TaskResult = serde_json::from_value(serde_json::json!({"success": false,
            "error": "Unknown skill: secret", "traceback": "…", "duration_ms": 2.5}))
        .unwrap();
        assert_eq!(unknown.failure_code(), crate::skill::FailureCode::UnknownSkill);
        let version: TaskResult = serde_json::from_value(serde_json::json!({"success": false,
            "error": "v2 wanted", "error_code": "VERSION_MISMATCH", "available_version": "1.0",
            "requested_version": "2.0"}))
        .unwrap();
        assert_eq!(version.failure_code(), crate::skill::FailureCode::VersionMismatch);
        let grant: TrustAnswer = serde_json::from_value(serde_json::json!({"granted": true,
            "granted_tier": 1, "reason": "auto-accepted"}))
        .unwrap();
        assert_eq!(grant.granted_tier, Some(1));
        let capabilities: Capabilities = serde_json::from_value(serde_json::json!({"name": "py",
            "skills": [{"name": "echo", "input_schema": {"text": "str"}}, "not a card", {"no": "name"}]}))
        .unwrap();
        assert_eq!(capabilities.skills.len(), 1, "unreadable cards are left out, not fatal");
        let ours = Envelope::new(kind::PING, Map::new(), &Sender::default(), 0);
        assert_eq!(Envelope::parse(&ours.to_text()).unwrap().unwrap().dialect(), Dialect::Coworker);
    }

    #[test]
    fn python_envelopes_parse_and_ours_carry_every_v1_field() {
        let python = r#"{"protocol": "coworker", "version": "1.0", "type": "task_request",
            "payload": {"skill": "translate", "input": {"text": "hi"}},
            "timestamp": "2026-04-01T10:00:00.123456+00:00", "ttl": 3600,
            "sender_id": "alice-bot", "correlation_id": "1a2b3c4d", "sender_wallet": "0xabc",
            "trace_id": null}"#;
        let envelope = Envelope::parse(python).unwrap().unwrap();
        assert_eq!(envelope.kind, kind::TASK_REQUEST);
        assert_eq!(envelope.correlation_id.as_deref(), Some("1a2b3c4d"));
        let request: TaskRequest = envelope.payload().unwrap();
        assert_eq!(request.skill, "translate");
        assert!(!request.is_async);

        let sender = Sender { name: "bot".into(), wallet: "0x1234".into() };
        let ours =
            Envelope::new(kind::PING, to_payload(&Ping::default()), &sender, 0).correlated("c-1");
        let value: Value = serde_json::from_str(&ours.to_text()).unwrap();
        for field in [
            "protocol",
            "version",
            "type",
            "payload",
            "timestamp",
            "ttl",
            "sender_id",
            "correlation_id",
            "sender_wallet",
        ] {
            assert!(value.get(field).is_some(), "missing {field}");
        }
        assert_eq!(value["timestamp"], "1970-01-01T00:00:00.000000+00:00");
    }

    #[test]
    fn plain_text_is_not_an_envelope_and_bad_envelopes_are_errors() {
        assert_eq!(Envelope::parse("hello there").unwrap(), None);
        assert_eq!(Envelope::parse("{\"not\": \"ours\"}").unwrap(), None);
        assert_eq!(Envelope::parse("{broken").unwrap(), None);
        let no_type = r#"{"protocol":"coworker","version":"1.0","payload":{}}"#;
        assert_eq!(Envelope::parse(no_type).unwrap_err().code(), "envelope.malformed");
        let v2 = r#"{"protocol":"coworker","version":"2.0","type":"ping"}"#;
        assert_eq!(Envelope::parse(v2).unwrap_err().code(), "envelope.version");
        let wrong = r#"{"protocol":"coworker","version":"1.0","type":"ping","payload":[1]}"#;
        assert_eq!(Envelope::parse(wrong).unwrap_err().code(), "envelope.malformed");
        let huge = format!(
            r#"{{"protocol":"coworker","version":"1.0","type":"ping","payload":{{"message":"{}"}}}}"#,
            "x".repeat(MAX_ENVELOPE_BYTES)
        );
        assert_eq!(Envelope::parse(&huge).unwrap_err().code(), "envelope.too_large");
        let request = r#"{"protocol":"coworker","version":"1.0","type":"task_request","payload":{"input":{}}}"#;
        let envelope = Envelope::parse(request).unwrap().unwrap();
        assert_eq!(envelope.payload::<TaskRequest>().unwrap_err().code(), "envelope.payload");
    }

    #[test]
    fn timestamps_are_iso8601_utc() {
        assert_eq!(iso8601(1_795_996_800_123), "2026-11-30T00:00:00.123000+00:00");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000000+00:00");
    }
}
