//! Errors of the node as a whole, and how request errors become gRPC statuses.

use tonic::Status;

/// Why the node could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The database could not be opened, migrated or written.
    #[error("storage: {0}")]
    Storage(String),
    /// A socket or file operation failed.
    #[error("i/o: {0}")]
    Io(String),
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A bug or a crashed task.
    #[error("internal: {0}")]
    Internal(String),
}

impl NodeError {
    /// A stable, machine-readable code, e.g. `node.storage`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Storage(_) => "node.storage",
            Self::Io(_) => "node.io",
            Self::Config(_) => "node.config",
            Self::Internal(_) => "node.internal",
        }
    }
}

impl From<sqlx::Error> for NodeError {
    fn from(error: sqlx::Error) -> Self {
        Self::Storage(error.to_string())
    }
}

/// A storage failure while serving a request: logged in full, reported without internals.
pub(crate) fn storage_status(error: &NodeError) -> Status {
    tracing::error!(%error, "storage failure while serving a request");
    Status::internal("the node could not access its storage")
}
