//! How a node is configured.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Nanoseconds since the Unix epoch; injected so tests can control time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Everything a node needs to run.
#[derive(Clone)]
pub struct NodeConfig {
    /// Where to listen; port 0 picks a free port. Default `127.0.0.1:5556` (libxmtp's `local`).
    pub listen: SocketAddr,
    /// The SQLite database file (created if missing).
    pub database: PathBuf,
    /// Serve TLS (`https://`) instead of plaintext HTTP/2.
    pub tls: Option<TlsConfig>,
    /// Size, count and rate limits.
    pub limits: Limits,
    /// The time source for message timestamps.
    pub clock: Clock,
    /// When V3 publishing stops (nanoseconds since the Unix epoch), as XMTP's V3 nodes announce
    /// through `FetchD14nCutover`: from then on V3 writes and streams are refused and clients
    /// use the d14n API. `None`: never.
    pub d14n_cutover_ns: Option<u64>,
    /// Number the d14n envelopes stored from the cutover on as an xmtpd node does: application
    /// messages and welcomes are filed under this node's id (`node_id`) with its own sequence
    /// (nanoseconds since the cutover, plus one: increasing, not contiguous), while what came
    /// before stays under V3's originators (10, 11) with V3 ids, as XMTP's migration files it.
    /// Sequence ids of different originators are then unrelated, so clients must keep a cursor
    /// per originator. Off (the default): every topic is one series of V3 ids.
    pub d14n_own_sequences: bool,
    /// The node's id on the decentralized network (what `GetNodes` lists).
    pub node_id: u32,
    /// The secp256k1 key the node signs originator envelopes with. `None`: one is made on first
    /// start and kept in the database.
    pub originator_key: Option<[u8; 32]>,
}

impl std::fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeConfig")
            .field("listen", &self.listen)
            .field("database", &self.database)
            .field("tls", &self.tls.is_some())
            .field("limits", &self.limits)
            .field("d14n_cutover_ns", &self.d14n_cutover_ns)
            .field("d14n_own_sequences", &self.d14n_own_sequences)
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl NodeConfig {
    /// A node on `127.0.0.1:0` (any free port) storing into `database`, with default limits.
    pub fn local(database: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: database.into(),
            tls: None,
            limits: Limits::default(),
            clock: system_clock(),
            d14n_cutover_ns: None,
            d14n_own_sequences: false,
            node_id: 100,
            originator_key: None,
        }
    }
}

/// The system clock in nanoseconds since the Unix epoch.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    })
}

/// A PEM certificate chain and private key.
#[derive(Clone)]
pub struct TlsConfig {
    /// The certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// The private key, PEM.
    pub key_pem: Vec<u8>,
}

/// What the node accepts. Requests beyond a limit get `InvalidArgument` (sizes, counts) or
/// `ResourceExhausted` (log length, rate) and change nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded gRPC request or response (libxmtp's client limit is 25 MiB).
    pub max_request_bytes: usize,
    /// Largest MLS message in `SendGroupMessages`.
    pub max_group_message_bytes: usize,
    /// Largest sealed welcome (or pointer) in `SendWelcomeMessages`.
    pub max_welcome_bytes: usize,
    /// Largest key package.
    pub max_key_package_bytes: usize,
    /// Largest encoded identity update.
    pub max_identity_update_bytes: usize,
    /// Most messages, welcomes, group ids or identifiers in one request.
    pub max_items_per_request: usize,
    /// Most filters in one subscription.
    pub max_filters_per_subscription: usize,
    /// Most entries in one inbox's identity log (the reference node's limit is 256).
    pub max_inbox_log_entries: usize,
    /// Requests per second each client connection may make, on average.
    pub requests_per_second: u32,
    /// Requests a client connection may make in a burst.
    pub burst: u32,
}

impl Limits {
    /// Bytes of messages one page of a query or a subscription's backlog carries at most
    /// (whatever their count): a page of large messages still fits in one response.
    pub fn page_budget(&self) -> usize {
        (self.max_request_bytes / 4 * 3).max(1)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: 25 * 1024 * 1024,
            max_group_message_bytes: 5 * 1024 * 1024,
            max_welcome_bytes: 10 * 1024 * 1024,
            max_key_package_bytes: 64 * 1024,
            max_identity_update_bytes: 64 * 1024,
            max_items_per_request: 1_000,
            max_filters_per_subscription: 10_000,
            max_inbox_log_entries: 256,
            requests_per_second: 2_000,
            burst: 4_000,
        }
    }
}
