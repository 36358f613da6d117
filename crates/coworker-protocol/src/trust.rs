//! Trust tiers and the decisions they drive: which message types a peer may send, what a trust
//! request may grant, the step down after a completed OKR and failure decay.
//!
//! Every decision carries the rule that fired, so the audit log can answer "why was this
//! denied?". Tiers are held per peer inbox id by the runtime; this module only decides.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::envelope::kind;

/// How much a peer is trusted. Deny by default: a new peer is [`Tier::Untrusted`].
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "u8", into = "u8")]
pub enum Tier {
    /// Ping, discover (sees no skills) and ask for trust; nothing else.
    #[default]
    Untrusted = 0,
    /// Discover and call exposed skills up to this tier, propose plans.
    Known = 1,
    /// Deeper collaboration: context queries and tier-2 skills.
    Internal = 2,
    /// Full access; only ever granted by a human.
    Privileged = 3,
}

impl Tier {
    /// All tiers, lowest first.
    pub const ALL: [Tier; 4] = [Tier::Untrusted, Tier::Known, Tier::Internal, Tier::Privileged];

    /// The lowercase name (`known`), as the Python original writes it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Untrusted => "untrusted",
            Self::Known => "known",
            Self::Internal => "internal",
            Self::Privileged => "privileged",
        }
    }

    /// Parses `0`-`3` or a name (`known`, `KNOWN`).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|t| t.label() == text || (*t as u8).to_string() == text)
    }

    /// Reads a tier from JSON: an integer 0-3 or a name.
    pub fn from_json(value: &Value) -> Option<Self> {
        match value {
            Value::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()?.try_into().ok()),
            Value::String(s) => Self::parse(s),
            _ => None,
        }
    }

    /// One tier lower, for the step down after a completed OKR: never below [`Tier::Known`]
    /// by this rule, and an untrusted peer stays untrusted.
    pub fn after_okr(self) -> Self {
        match self {
            Self::Privileged => Self::Internal,
            Self::Internal | Self::Known => Self::Known,
            Self::Untrusted => Self::Untrusted,
        }
    }
}

impl TryFrom<u8> for Tier {
    type Error = String;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Self::ALL.get(usize::from(value)).copied().ok_or_else(|| format!("no trust tier {value}"))
    }
}

impl From<Tier> for u8 {
    fn from(tier: Tier) -> u8 {
        tier as u8
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// The outcome of a trust check, with the rule that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Whether the action may go ahead.
    pub allowed: bool,
    /// A stable name of the rule (`tier_too_low`, `unknown_type`, …).
    pub rule: String,
    /// A human-readable explanation, also sent to the peer on denial.
    pub reason: String,
}

impl Decision {
    fn allow(rule: &str, reason: String) -> Self {
        Self { allowed: true, rule: rule.to_owned(), reason }
    }

    fn deny(rule: &str, reason: String) -> Self {
        Self { allowed: false, rule: rule.to_owned(), reason }
    }
}

/// The tier a peer needs to send a request of this type; `None` for types we do not handle
/// (denied). Responses are not gated here: they are accepted only as answers to our requests.
pub fn required_tier(message_type: &str) -> Option<Tier> {
    match message_type {
        // Chat in a group is shown, never acted on.
        kind::PING
        | kind::DISCOVER
        | kind::AGENT_CARD_QUERY
        | kind::TRUST_REQUEST
        | kind::GROUP_MESSAGE => Some(Tier::Untrusted),
        kind::TASK_REQUEST
        | kind::TASK_CANCEL
        | kind::PLAN_PROPOSE
        | kind::OKR_UPDATE
        | kind::GROUP_DISCOVER
        | kind::GROUP_TASK_REQUEST => Some(Tier::Known),
        _ => None,
    }
}

/// May a peer at `tier` send a request of `message_type`? Unknown types are denied.
pub fn gate(message_type: &str, tier: Tier) -> Decision {
    match required_tier(message_type) {
        None => {
            Decision::deny("unknown_type", format!("Message type '{message_type}' is not accepted"))
        }
        Some(needed) if tier < needed => Decision::deny(
            "tier_too_low",
            format!(
                "Message type '{message_type}' requires trust tier >= {}, but peer has tier {}",
                needed as u8, tier as u8
            ),
        ),
        Some(needed) => Decision::allow(
            "tier_sufficient",
            format!("'{message_type}' needs {needed}, peer is {tier}"),
        ),
    }
}

/// What to do with a `trust_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustRequestOutcome {
    /// The peer already holds this tier or more: nothing changes (a request never lowers).
    AlreadyHeld(Tier),
    /// Granted without asking: at or below the auto-grant ceiling.
    Granted(Tier),
    /// A human (or an explicit policy) must approve.
    NeedsApproval(Tier),
    /// Not a valid request.
    Invalid(String),
}

/// Decides a trust request from a peer at `current` asking for `requested` (raw JSON: an
/// integer 0-3 or a name). `auto_grant_ceiling` is the highest tier granted without approval
/// (`None`: nothing is); [`Tier::Privileged`] is never granted automatically.
pub fn on_trust_request(
    current: Tier,
    requested: &Value,
    auto_grant_ceiling: Option<Tier>,
) -> TrustRequestOutcome {
    let Some(requested) = Tier::from_json(requested) else {
        return TrustRequestOutcome::Invalid(format!("{requested} is not a trust tier (0-3)"));
    };
    if requested <= current {
        return TrustRequestOutcome::AlreadyHeld(current);
    }
    let ceiling = auto_grant_ceiling.map(|c| c.min(Tier::Internal));
    match ceiling {
        Some(ceiling) if requested <= ceiling => TrustRequestOutcome::Granted(requested),
        _ => TrustRequestOutcome::NeedsApproval(requested),
    }
}

/// How a call we made ended, as far as failure decay is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The skill ran and answered.
    Success,
    /// The peer's skill failed (its fault).
    PeerFailure,
    /// Not the peer's fault: our timeout, our invalid input, an unknown skill, a cancel.
    NotCounted,
}

/// Consecutive real failures of a peer's skills before it steps down one tier.
pub const FAILURES_BEFORE_DECAY: u32 = 3;

/// Failure decay: after [`FAILURES_BEFORE_DECAY`] consecutive real failures the peer steps down
/// one tier, never below [`Tier::Known`]. Returns the new consecutive count and the new tier if
/// it changed.
pub fn decay(tier: Tier, consecutive: u32, outcome: CallOutcome) -> (u32, Option<Tier>) {
    match outcome {
        CallOutcome::Success => (0, None),
        CallOutcome::NotCounted => (consecutive, None),
        CallOutcome::PeerFailure => {
            let count = consecutive.saturating_add(1);
            if count < FAILURES_BEFORE_DECAY {
                return (count, None);
            }
            let lower = match tier {
                Tier::Privileged => Tier::Internal,
                Tier::Internal => Tier::Known,
                other => other,
            };
            (0, (lower != tier).then_some(lower))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tiers_parse_from_numbers_and_names() {
        assert_eq!(Tier::parse("KNOWN"), Some(Tier::Known));
        assert_eq!(Tier::parse("3"), Some(Tier::Privileged));
        assert_eq!(Tier::parse("4"), None);
        assert_eq!(Tier::from_json(&json!(2)), Some(Tier::Internal));
        assert_eq!(Tier::from_json(&json!("untrusted")), Some(Tier::Untrusted));
        assert_eq!(Tier::from_json(&json!(-1)), None);
        assert_eq!(Tier::from_json(&json!(1.5)), None);
        assert_eq!(serde_json::to_value(Tier::Internal).unwrap(), json!(2));
        assert!(serde_json::from_value::<Tier>(json!(7)).is_err());
    }

    #[test]
    fn the_gate_denies_by_default_and_says_why() {
        assert!(gate(kind::PING, Tier::Untrusted).allowed);
        assert!(gate(kind::DISCOVER, Tier::Untrusted).allowed);
        let denied = gate(kind::TASK_REQUEST, Tier::Untrusted);
        assert!(!denied.allowed);
        assert_eq!(denied.rule, "tier_too_low");
        assert_eq!(
            denied.reason,
            "Message type 'task_request' requires trust tier >= 1, but peer has tier 0"
        );
        assert!(gate(kind::TASK_REQUEST, Tier::Known).allowed);
        let unknown = gate("context_query", Tier::Privileged);
        assert!(!unknown.allowed);
        assert_eq!(unknown.rule, "unknown_type");
        // Responses are never requests.
        assert!(!gate(kind::TASK_RESPONSE, Tier::Privileged).allowed);
    }

    #[test]
    fn trust_requests_never_lower_and_respect_the_ceiling() {
        use TrustRequestOutcome::*;
        assert_eq!(on_trust_request(Tier::Internal, &json!(0), None), AlreadyHeld(Tier::Internal));
        assert_eq!(on_trust_request(Tier::Known, &json!(1), None), AlreadyHeld(Tier::Known));
        assert_eq!(on_trust_request(Tier::Untrusted, &json!(1), None), NeedsApproval(Tier::Known));
        assert_eq!(
            on_trust_request(Tier::Untrusted, &json!(1), Some(Tier::Known)),
            Granted(Tier::Known)
        );
        assert_eq!(
            on_trust_request(Tier::Known, &json!("internal"), Some(Tier::Known)),
            NeedsApproval(Tier::Internal)
        );
        assert_eq!(
            on_trust_request(Tier::Known, &json!(3), Some(Tier::Privileged)),
            NeedsApproval(Tier::Privileged),
            "privileged is never automatic"
        );
        assert!(matches!(on_trust_request(Tier::Known, &json!("root"), None), Invalid(_)));
    }

    #[test]
    fn okr_completion_steps_down_to_known_at_most() {
        assert_eq!(Tier::Privileged.after_okr(), Tier::Internal);
        assert_eq!(Tier::Internal.after_okr(), Tier::Known);
        assert_eq!(Tier::Known.after_okr(), Tier::Known);
        assert_eq!(Tier::Untrusted.after_okr(), Tier::Untrusted);
    }

    #[test]
    fn decay_counts_only_real_consecutive_failures() {
        let mut count = 0;
        for _ in 0..10 {
            (count, _) = decay(Tier::Internal, count, CallOutcome::NotCounted);
        }
        assert_eq!(count, 0, "timeouts and our own errors do not count");
        (count, _) = decay(Tier::Internal, count, CallOutcome::PeerFailure);
        (count, _) = decay(Tier::Internal, count, CallOutcome::PeerFailure);
        (count, _) = decay(Tier::Internal, count, CallOutcome::Success);
        assert_eq!(count, 0, "a success resets");
        let mut changed = None;
        for _ in 0..3 {
            (count, changed) = decay(Tier::Internal, count, CallOutcome::PeerFailure);
        }
        assert_eq!(changed, Some(Tier::Known));
        for _ in 0..3 {
            (count, changed) = decay(Tier::Known, count, CallOutcome::PeerFailure);
        }
        assert_eq!(changed, None, "never below known by decay");
    }
}
