//! Why a client operation failed. Every variant has a stable [`ClientError::code`].

use xmtp_identity::IdentityError;

use crate::keystore::KeyStoreError;

/// A failed client operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The node answered with an error status.
    #[error("node error: {0}")]
    Node(#[from] tonic::Status),
    /// The node could not be reached or the URL is unusable.
    #[error("cannot reach the network: {0}")]
    Transport(String),
    /// The local database failed.
    #[error("local database: {0}")]
    Storage(#[from] sqlx::Error),
    /// The local database could not be migrated.
    #[error("local database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The key store failed.
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    /// An identity update, signature or identifier was rejected.
    #[error("identity: {0}")]
    Identity(#[from] IdentityError),
    /// A peer's key package, credential or welcome does not match its verified identity log.
    #[error("verification failed: {0}")]
    Verification(String),
    /// An MLS operation failed.
    #[error("MLS: {0}")]
    Mls(String),
    /// Input from the network could not be decoded.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The caller's input is invalid.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Something the caller named does not exist (or is not visible to this installation).
    #[error("{0} not found")]
    NotFound(String),
    /// The inbox already has the maximum number of installations.
    #[error("inbox {0} already has 10 installations; revoke one first")]
    TooManyInstallations(String),
    /// This installation is no longer a member of the conversation.
    #[error("this installation is not an active member of conversation {0}")]
    Inactive(String),
    /// The group policy does not allow this installation's inbox to do that.
    #[error("not permitted: {0}")]
    NotPermitted(String),
    /// Another member committed first, again and again.
    #[error("commit lost to concurrent commits {0} times; try again")]
    Conflict(u32),
    /// Processing input from the network panicked inside the MLS library; the input is
    /// skipped and the state rolled back to the last write.
    #[error("processing {0} panicked; it was skipped")]
    Panicked(&'static str),
}

/// Whether a status stands for no answer from the node at all: refused or dropped connections.
fn lost_connection(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable
        || std::error::Error::source(status).is_some_and(|e| e.is::<tonic::transport::Error>())
}

impl ClientError {
    /// A stable, machine-readable code, e.g. `client.verification`.
    pub fn code(&self) -> &'static str {
        match self {
            // A lazily connected channel reports a refused connection as UNAVAILABLE; a
            // connection lost mid-request comes as UNKNOWN or CANCELLED from the transport.
            Self::Node(s) if lost_connection(s) => "client.unreachable",
            Self::Node(_) => "client.node",
            Self::Transport(_) => "client.unreachable",
            Self::Storage(_) | Self::Migrate(_) => "client.storage",
            Self::KeyStore(_) => "client.keystore",
            Self::Identity(e) => e.code(),
            Self::Verification(_) => "client.verification",
            Self::Mls(_) => "client.mls",
            Self::Malformed { .. } => "client.malformed",
            Self::InvalidInput(_) => "client.invalid_input",
            Self::NotFound(_) => "client.not_found",
            Self::TooManyInstallations(_) => "client.too_many_installations",
            Self::Inactive(_) => "client.inactive",
            Self::NotPermitted(_) => "client.not_permitted",
            Self::Conflict(_) => "client.conflict",
            Self::Panicked(_) => "client.panicked",
        }
    }

    pub(crate) fn mls(error: impl std::fmt::Display) -> Self {
        Self::Mls(error.to_string())
    }

    /// Runs `f` on input from the network: a panic inside it (the MLS library on hostile
    /// input) becomes [`ClientError::Panicked`] instead of ending the task.
    pub(crate) fn contain<T>(what: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or(Err(Self::Panicked(what)))
    }

    pub(crate) fn malformed(what: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Malformed { what, reason: reason.to_string() }
    }
}

/// Shorthand for results of client operations.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
