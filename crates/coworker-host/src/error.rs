//! [`HostError`]: what went wrong, as a stable code, a kind every front end can act on (an exit
//! code, a translated message) and a sentence. The same value in-process and over the control
//! socket.

use coworker_runtime::protocol::skill::FailureCode;
use coworker_runtime::{CallError, RuntimeError};
use serde::{Deserialize, Serialize};

/// What a front end does about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request itself is wrong (bad input, a bad invite, an invalid skill).
    InvalidInput,
    /// Something named does not exist.
    NotFound,
    /// A peer refused or failed (its code says why).
    Refused,
    /// A peer did not answer in time.
    Timeout,
    /// The network or node cannot be reached.
    Unreachable,
    /// Another process holds the identity.
    Busy,
    /// The control API was misused (version, framing).
    Protocol,
    /// Anything else.
    Failed,
}

/// An error with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[error("{message}")]
pub struct HostError {
    /// What to do about it.
    pub kind: ErrorKind,
    /// A stable code (`runtime.not_found`, `call.failed`, `host.busy`, …).
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// A peer's failure code, when a peer refused (`UNKNOWN_SKILL`, `TRUST_TIER_TOO_LOW`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_code: Option<String>,
}

impl HostError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, code: &str, message: impl Into<String>) -> Self {
        Self { kind, code: code.to_owned(), message: message.into(), peer_code: None }
    }

    /// Input the user gave that cannot be used.
    pub fn invalid(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, code, message)
    }

    /// Something named that does not exist.
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, message)
    }

    /// Anything else (a file that cannot be written, a state that does not allow it).
    pub fn failed(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, code, message)
    }

    /// The peer's failure code, when a peer refused.
    pub fn failure(&self) -> Option<FailureCode> {
        self.peer_code.as_deref().map(FailureCode::parse)
    }
}

impl From<RuntimeError> for HostError {
    fn from(e: RuntimeError) -> Self {
        let code = e.code();
        let (kind, peer_code, message) = match &e {
            RuntimeError::Invite(_)
            | RuntimeError::InvalidInput(_)
            | RuntimeError::Skill(_)
            | RuntimeError::WrongNetwork { .. } => (ErrorKind::InvalidInput, None, e.to_string()),
            RuntimeError::NotFound(_) => (ErrorKind::NotFound, None, e.to_string()),
            RuntimeError::Call(CallError::Timeout(_)) => (ErrorKind::Timeout, None, e.to_string()),
            RuntimeError::Call(CallError::Failed { code, message, violations }) => {
                let mut text = format!("{}: {message}", code.as_str());
                if !violations.is_empty() {
                    let list: Vec<String> =
                        violations.iter().map(|v| format!("{}: {}", v.path, v.message)).collect();
                    text = format!("{text} ({})", list.join("; "));
                }
                (ErrorKind::Refused, Some(code.as_str().to_owned()), text)
            }
            RuntimeError::Call(_) | RuntimeError::Plan(_) => {
                (ErrorKind::Refused, None, e.to_string())
            }
            RuntimeError::Xmtp(x) if x.code() == "client.unreachable" => {
                (ErrorKind::Unreachable, None, e.to_string())
            }
            _ => (ErrorKind::Failed, None, e.to_string()),
        };
        Self { kind, code: code.to_owned(), message, peer_code }
    }
}

impl From<xmtp_client::ClientError> for HostError {
    fn from(e: xmtp_client::ClientError) -> Self {
        RuntimeError::from(e).into()
    }
}

impl From<coworker_runtime::protocol::invite::InviteError> for HostError {
    fn from(e: coworker_runtime::protocol::invite::InviteError) -> Self {
        RuntimeError::from(e).into()
    }
}
