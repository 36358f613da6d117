//! A local XMTP-compatible node.
//!
//! Serves the XMTP v3 gRPC API that libxmtp 1.10 uses (`xmtp.mls.api.v1.MlsApi` and
//! `xmtp.identity.api.v1.IdentityApi`, 15 RPCs) from a SQLite database, so the official client
//! and our own can register, exchange key packages, welcomes and group messages with no external
//! service. It also serves the decentralized network's API (d14n) over the same data, as its
//! own gateway, so libxmtp in d14n mode (and clients moving there at the cutover) work against
//! it too. The desktop app and the CLI embed it as their offline default network;
//! `coworker node` runs it stand-alone on a LAN.
//!
//! Map of the crate:
//! - [`start`]: run a node in the background (embedded use, `127.0.0.1:0`); [`Server`]: bind,
//!   then run until a shutdown future completes (the CLI); [`NodeConfig`] and [`Limits`]
//!   configure it.
//! - `store`: SQLite through sqlx. Reads use a connection pool; every write goes through one
//!   writer task that batches concurrent requests into one transaction, assigns the global
//!   sequence ids in order, and only then publishes to subscribers.
//! - `fanout`: topic (group id / installation key) → live subscribers, with lag detection.
//! - `subscribe`: the server streams — headers at once, the backlog after each filter's cursor,
//!   then live messages, with per-topic high-water marks so nothing is lost or repeated.
//! - `validate`: key packages (signature, ciphersuite, inbox-id credential), group-message
//!   framing (group id, commit flag) and welcome shape, using openmls.
//! - `d14n`: `PayerApi`, `ReplicationApi`, the health check and `FetchD14nCutover`: each row
//!   as a signed originator envelope under libxmtp's originator ids; publishing goes through
//!   `mls`/`identity`. From `NodeConfig::d14n_cutover_ns` on, V3 writes and new V3 streams are
//!   refused.
//! - `mls`, `identity`: the two V3 gRPC services. Identity updates are verified with
//!   `xmtp-identity` against the inbox's stored log before they are stored or change the
//!   identifier index.
//! - `rate_limit`: token buckets per client host, and write quotas per inbox and installation.
//!
//! Semantics follow the reference node (xmtp-node-go): paging (`UNSPECIFIED` = descending,
//! limit 0 or over 100 = 100, cursor returned only on a full page), silent dedupe of identical
//! messages, `GetNewestGroupMessage` aligned with the request, smart-contract-wallet signatures
//! answered `is_valid = false`.

mod config;
mod d14n;
mod error;
mod fanout;
mod identity;
mod mls;
mod rate_limit;
mod store;
mod subscribe;
mod validate;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use xmtp_proto::d14n_payer::payer_api_server::PayerApiServer;
use xmtp_proto::d14n_replication::replication_api_server::ReplicationApiServer;
use xmtp_proto::grpc_health::health_server::HealthServer;
use xmtp_proto::identity_api::identity_api_server::IdentityApiServer;
use xmtp_proto::migration_api::d14n_migration_api_server::D14nMigrationApiServer;
use xmtp_proto::mls_api::mls_api_server::MlsApiServer;

pub use config::{Clock, Limits, NodeConfig, TlsConfig, system_clock};

/// The node's checks of client payloads without their panic guard, for the fuzz targets
/// (`tests/fuzz`): a parser that panics must show up there, not be turned into a rejection.
#[doc(hidden)]
pub mod fuzzing {
    /// Whether the bytes pass as a key package.
    pub fn key_package(bytes: &[u8]) -> bool {
        crate::validate::validate_key_package(bytes).is_ok()
    }

    /// Whether the bytes pass as a group message.
    pub fn group_message(bytes: &[u8]) -> bool {
        crate::validate::parse_group_message(bytes).is_ok()
    }
}
pub use error::NodeError;

use crate::fanout::Fanout;
use crate::rate_limit::{IdentityQuotas, RateLimiter};
use crate::store::Store;

/// Shared by both services and every subscription.
#[derive(Clone)]
struct Shared {
    store: Store,
    groups: Arc<Fanout<xmtp_proto::mls_api::GroupMessage>>,
    welcomes: Arc<Fanout<xmtp_proto::mls_api::WelcomeMessage>>,
    limits: Arc<Limits>,
    /// Write quotas per identity a request names.
    quotas: IdentityQuotas,
    /// Becomes `true` when the node shuts down; ends every subscription.
    stopping: watch::Receiver<bool>,
    /// When V3 publishing stops (`NodeConfig::d14n_cutover_ns`).
    cutover_ns: Option<u64>,
    clock: Clock,
}

/// What XMTP's V3 nodes answer once the decentralized network has taken over.
const V3_CLOSED: &str =
    "publishing to XMTP V3 is no longer available. Please upgrade your client to XMTP D14N.";

impl Shared {
    /// Whether the d14n cutover time has passed.
    fn past_cutover(&self) -> bool {
        self.cutover_ns.is_some_and(|at| (self.clock)() >= at)
    }

    /// V3 writes are refused (`UNAVAILABLE`) from the cutover on.
    fn v3_writes_open(&self) -> Result<(), tonic::Status> {
        if self.past_cutover() { Err(tonic::Status::unavailable(V3_CLOSED)) } else { Ok(()) }
    }

    /// New V3 subscriptions are refused from the cutover on (ones already open go on).
    fn v3_streams_open(&self) -> Result<(), tonic::Status> {
        if self.past_cutover() {
            Err(tonic::Status::unavailable(
                "XMTP V3 streams are no longer available; use XMTP D14N",
            ))
        } else {
            Ok(())
        }
    }
}

/// A running node started by [`start`].
#[derive(Debug)]
pub struct Node {
    url: String,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), NodeError>>,
}

impl Node {
    /// The URL clients connect to, e.g. `http://127.0.0.1:41235`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the node listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting requests, ends subscriptions, finishes in-flight writes and closes the
    /// database.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let _ = self.stop.send(true);
        self.task.await.map_err(|e| NodeError::Internal(format!("node task failed: {e}")))?
    }
}

/// Starts a node on `config.listen` (use port 0 for any free port) in the background and
/// returns once it accepts connections.
pub async fn start(config: NodeConfig) -> Result<Node, NodeError> {
    let server = Server::bind(config).await?;
    let (url, addr) = (server.url.clone(), server.addr);
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    Ok(Node { url, addr, stop, task })
}

/// A node that is listening and has its database open, not yet serving. The CLI uses it to
/// print the URL only once the node is really ready, then [`Server::run`]s it.
pub struct Server {
    prepared: Prepared,
    listener: TcpListener,
    url: String,
    addr: SocketAddr,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `config.listen` and opens (creating and migrating) the database.
    pub async fn bind(config: NodeConfig) -> Result<Self, NodeError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| NodeError::Io(format!("cannot listen on {}: {e}", config.listen)))?;
        let addr = listener.local_addr().map_err(|e| NodeError::Io(e.to_string()))?;
        let scheme = if config.tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{addr}");
        let (store, writer) = Store::open(&config.database, config.clock.clone()).await?;
        let key = store.originator_key(config.originator_key).await?;
        let prepared = Prepared { config, store, writer, key, url: url.clone() };
        Ok(Self { prepared, listener, url, addr })
    }

    /// The URL clients connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Serves until `shutdown` completes, then stops accepting requests, ends subscriptions,
    /// finishes in-flight writes and closes the database.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), NodeError> {
        self.prepared.run(self.listener, shutdown).await
    }
}

/// How long shutdown waits for clients to finish, and then for pending writes.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// tonic refuses a request over `max_request_bytes` with `OUT_OF_RANGE` before any handler runs
/// (our handlers never use that code); report it as `RESOURCE_EXHAUSTED`, like other gRPC
/// servers and like every other limit of this node.
fn oversize_is_resource_exhausted<B>(mut response: http::Response<B>) -> http::Response<B> {
    let headers = response.headers_mut();
    if headers.get("grpc-status").is_some_and(|s| s.as_bytes() == b"11") {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
    response
}

/// A node whose database is open and migrated, ready to accept connections.
struct Prepared {
    config: NodeConfig,
    store: Store,
    writer: JoinHandle<()>,
    /// Signs d14n originator envelopes.
    key: xmtp_identity::WalletKey,
    url: String,
}

impl Prepared {
    async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), NodeError> {
        let Prepared { config, store, writer, key, url } = self;
        let (stop, stopping) = watch::channel(false);
        let shared = Shared {
            groups: store.group_fanout(),
            welcomes: store.welcome_fanout(),
            store: store.clone(),
            limits: Arc::new(config.limits.clone()),
            quotas: IdentityQuotas::default(),
            stopping,
            cutover_ns: config.d14n_cutover_ns,
            clock: config.clock.clone(),
        };
        let limiter = RateLimiter::new(config.limits.requests_per_second, config.limits.burst);
        let max = config.limits.max_request_bytes;
        let mls = MlsApiServer::new(mls::MlsService::new(shared.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let mls = tonic::service::interceptor::InterceptedService::new(mls, {
            let limiter = limiter.clone();
            move |request| limiter.check(request)
        });
        let identity = IdentityApiServer::new(identity::IdentityService::new(shared.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let identity = tonic::service::interceptor::InterceptedService::new(identity, {
            let limiter = limiter.clone();
            move |request| limiter.check(request)
        });
        let numbering = d14n::Numbering {
            node_id: config.node_id,
            own_from_ns: config.d14n_cutover_ns.filter(|_| config.d14n_own_sequences),
        };
        let d14n = d14n::D14nService::new(shared, key, numbering, url);
        let payer = PayerApiServer::new(d14n.clone())
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let payer = tonic::service::interceptor::InterceptedService::new(payer, {
            let limiter = limiter.clone();
            move |request| limiter.check(request)
        });
        let replication = ReplicationApiServer::new(d14n.clone())
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let replication = tonic::service::interceptor::InterceptedService::new(replication, {
            move |request| limiter.check(request)
        });
        let health = HealthServer::new(d14n.clone());
        let migration = D14nMigrationApiServer::new(d14n);

        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = &config.tls {
            let identity = tonic::transport::Identity::from_pem(&tls.cert_pem, &tls.key_pem);
            builder = builder
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                .map_err(|e| NodeError::Config(format!("TLS configuration: {e}")))?;
        }
        let addr = listener.local_addr().map_err(|e| NodeError::Io(e.to_string()))?;
        tracing::info!(%addr, tls = config.tls.is_some(), db = %config.database.display(), "XMTP node listening");

        // Small request/response pairs must not wait for Nagle + delayed ACK (~40 ms per call).
        let incoming = tokio_stream::StreamExt::map(TcpListenerStream::new(listener), |socket| {
            if let Ok(socket) = &socket {
                let _ = socket.set_nodelay(true);
            }
            socket
        });
        let (draining, drained) = tokio::sync::oneshot::channel::<()>();
        let serving = builder
            .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
            .layer(tower::util::MapResponseLayer::new(oversize_is_resource_exhausted))
            .add_service(mls)
            .add_service(identity)
            .add_service(payer)
            .add_service(replication)
            .add_service(health)
            .add_service(migration)
            .serve_with_incoming_shutdown(incoming, async move {
                shutdown.await;
                // End the server streams so the graceful shutdown does not wait on them.
                let _ = stop.send(true);
                let _ = draining.send(());
            });
        // Clients get a grace period to finish in-flight calls and close their connections; one
        // that ignores the server's GOAWAY does not keep the node alive.
        let result = tokio::select! {
            result = serving => result.map_err(|e| NodeError::Io(format!("server: {e}"))),
            () = async {
                let _ = drained.await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                tracing::warn!("clients still connected after {SHUTDOWN_GRACE:?}; closing anyway");
                Ok(())
            }
        };

        // The writer finishes the queued writes and closes the database once the last `Store`
        // handle is gone.
        store.close().await;
        drop(store);
        if tokio::time::timeout(SHUTDOWN_GRACE, writer).await.is_err() {
            tracing::warn!("pending writes did not finish within {SHUTDOWN_GRACE:?}");
        }
        tracing::info!(%addr, "XMTP node stopped");
        result
    }
}
