//! Runtime errors, each with a stable code.

use coworker_protocol::{FailureCode, InviteError, PlanError, SkillError};

/// What went wrong in the runtime. Denials by a peer are not errors of this kind: a call that a
/// peer refused ends in [`CallError::Failed`] with the peer's reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The XMTP client failed.
    #[error(transparent)]
    Xmtp(#[from] xmtp_client::ClientError),
    /// The runtime database failed.
    #[error("runtime database: {0}")]
    Database(String),
    /// A skill declaration is invalid.
    #[error(transparent)]
    Skill(#[from] SkillError),
    /// An invite code is invalid.
    #[error(transparent)]
    Invite(#[from] InviteError),
    /// No plan could be made for a goal.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Bad input from the local user or program.
    #[error("{0}")]
    InvalidInput(String),
    /// Something that should exist does not.
    #[error("not found: {0}")]
    NotFound(String),
    /// A call to a peer did not succeed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// An invite for an inbox on another XMTP network than this agent's: its owner cannot be
    /// reached from here.
    #[error(
        "this invite is for an agent on the XMTP network \"{invite}\", but this agent is on \"{ours}\": switch to \"{invite}\" (Settings, or --network) to connect, or ask for an invite on \"{ours}\""
    )]
    WrongNetwork {
        /// The invite's network.
        invite: String,
        /// This agent's network.
        ours: String,
    },
}

impl RuntimeError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Xmtp(e) => e.code(),
            Self::Database(_) => "runtime.database",
            Self::Skill(e) => e.code(),
            Self::Invite(e) => e.code(),
            Self::Plan(e) => e.code(),
            Self::InvalidInput(_) => "runtime.invalid_input",
            Self::NotFound(_) => "runtime.not_found",
            Self::Call(e) => e.code(),
            Self::WrongNetwork { .. } => "runtime.wrong_network",
        }
    }
}

impl RuntimeError {
    /// Whether the agent's own storage failed (a full disk, a locked database): the input that
    /// met it was not handled and is handled again later, instead of being dropped.
    pub fn is_storage(&self) -> bool {
        matches!(self.code(), "runtime.database" | "client.storage")
    }
}

impl From<sqlx::Error> for RuntimeError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for RuntimeError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Database(e.to_string())
    }
}

/// How a call to a peer's skill ended when it did not return a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The peer answered with a failure (unknown skill, invalid input, trust too low, …).
    #[error("{code}: {message}", code = .code.as_str())]
    Failed {
        /// The peer's code.
        code: FailureCode,
        /// The peer's reason.
        message: String,
        /// Schema violations the peer reported.
        violations: Vec<coworker_protocol::Violation>,
    },
    /// No answer within the deadline (the task may still run; retry with the same task id).
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// The answer was unusable (bad receipt, malformed payload).
    #[error("unusable answer: {0}")]
    BadAnswer(String),
}

impl CallError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Failed { .. } => "call.failed",
            Self::Timeout(_) => "call.timeout",
            Self::BadAnswer(_) => "call.bad_answer",
        }
    }
}

/// Result alias.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
