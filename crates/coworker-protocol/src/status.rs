//! Typed statuses that travel and are stored as the v1 strings: a call's ([`CallStatus`]:
//! `sent`, `completed`, `failed:<CODE>`) and a trust request's ([`RequestStatus`]: `pending`,
//! `approved`, `denied`, `superseded`). Serialised exactly as those strings, so records, the
//! control API and the CLI's JSON read as before; code compares variants, not text.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::skill::FailureCode;

/// Where a call we made stands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CallStatus {
    /// Sent; no answer yet.
    Sent,
    /// Answered with an output.
    Completed,
    /// Failed, with the code as the provider (or our runtime) gave it: a [`FailureCode`]
    /// (`TIMEOUT`, `CANCELLED`, …) or another implementation's or the runtime's code.
    Failed(String),
}

impl CallStatus {
    /// A failure with a known code.
    pub fn failed(code: FailureCode) -> Self {
        Self::Failed(code.as_str().to_owned())
    }

    /// Reads a stored or received status; anything unknown is a failure with that text.
    pub fn parse(text: &str) -> Self {
        match text {
            "sent" => Self::Sent,
            "completed" => Self::Completed,
            other => Self::Failed(other.strip_prefix("failed:").unwrap_or(other).to_owned()),
        }
    }

    /// Whether the call failed.
    pub fn is_failed(&self) -> bool {
        matches!(self, Self::Failed(_))
    }

    /// The failure's code, read as ours (unknown codes are a skill failure).
    pub fn failure(&self) -> Option<FailureCode> {
        match self {
            Self::Failed(code) => Some(FailureCode::parse(code)),
            _ => None,
        }
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sent => f.write_str("sent"),
            Self::Completed => f.write_str("completed"),
            Self::Failed(code) => write!(f, "failed:{code}"),
        }
    }
}

impl Serialize for CallStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CallStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(deserializer)?))
    }
}

/// Where a trust request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for the owner (or its policy).
    Pending,
    /// Granted.
    Approved,
    /// Refused.
    Denied,
    /// Replaced by a newer request from the same peer.
    Superseded,
}

impl RequestStatus {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Superseded => "superseded",
        }
    }

    /// Reads a stored string (`None`: not a status).
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Denied, Self::Superseded]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn call_statuses_read_and_write_the_v1_strings() {
        for (text, status) in [
            ("sent", CallStatus::Sent),
            ("completed", CallStatus::Completed),
            ("failed:TIMEOUT", CallStatus::failed(FailureCode::Timeout)),
            ("failed:call.timeout", CallStatus::Failed("call.timeout".into())),
        ] {
            assert_eq!(CallStatus::parse(text), status);
            assert_eq!(status.to_string(), text);
            assert_eq!(serde_json::to_value(&status).unwrap(), json!(text));
            assert_eq!(serde_json::from_value::<CallStatus>(json!(text)).unwrap(), status);
        }
        let odd = CallStatus::parse("exploded");
        assert_eq!(odd, CallStatus::Failed("exploded".into()));
        assert_eq!(odd.failure(), Some(FailureCode::SkillFailed));
        assert_eq!(CallStatus::parse("failed:CANCELLED").failure(), Some(FailureCode::Cancelled));
        assert!(!CallStatus::Sent.is_failed() && CallStatus::Completed.failure().is_none());
    }

    #[test]
    fn request_statuses_read_and_write_their_strings() {
        for status in [
            RequestStatus::Pending,
            RequestStatus::Approved,
            RequestStatus::Denied,
            RequestStatus::Superseded,
        ] {
            assert_eq!(RequestStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), json!(status.as_str()));
        }
        assert_eq!(RequestStatus::parse("maybe"), None);
    }
}
