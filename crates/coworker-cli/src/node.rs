//! `coworker node`: a stand-alone XMTP node.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

pub(crate) const EXAMPLES: &str = "\
Examples:
  coworker node                                      # 127.0.0.1:5556, database in the data dir
  coworker node --listen 0.0.0.0:5556 --db ./node.db # serve a LAN
  coworker node --tls-cert cert.pem --tls-key key.pem  # serve https://

Point clients at the printed URL (libxmtp: env \"local\" or apiUrl).";

#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:5556")]
    listen: SocketAddr,
    /// SQLite database file [default: $XDG_DATA_HOME/coworker/node.db]
    #[arg(long)]
    db: Option<PathBuf>,
    /// PEM certificate chain: serve TLS (https://) instead of plaintext HTTP/2.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Requests per second each client connection may make.
    #[arg(long, default_value_t = xmtp_node::Limits::default().requests_per_second)]
    rate_limit: u32,
    /// When V3 publishing stops, in nanoseconds since the Unix epoch (as XMTP's V3 nodes'
    /// `--d14n-cutover-ns`): announced by `FetchD14nCutover`; from then on V3 writes and new V3
    /// streams are refused and clients use the d14n API this node also serves.
    #[arg(long)]
    d14n_cutover_ns: Option<u64>,
    /// From the cutover on, number application messages and welcomes as an xmtpd node does:
    /// under this node's id with a sequence of its own (clients must keep a cursor per
    /// originator). For testing clients against the decentralized network's numbering.
    #[arg(long, requires = "d14n_cutover_ns")]
    d14n_own_sequences: bool,
}

pub(crate) fn default_db() -> PathBuf {
    coworker_host::paths::node_database()
}

/// Resolves when the process gets Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down");
}

#[allow(clippy::print_stdout)]
pub(crate) async fn run(args: NodeArgs) -> Result<(), String> {
    let mut config = xmtp_node::NodeConfig::local(args.db.unwrap_or_else(default_db));
    config.listen = args.listen;
    config.limits.requests_per_second = args.rate_limit;
    config.limits.burst = args.rate_limit.saturating_mul(2);
    config.d14n_cutover_ns = args.d14n_cutover_ns;
    config.d14n_own_sequences = args.d14n_own_sequences;
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        config.tls = Some(xmtp_node::TlsConfig { cert_pem: read(cert)?, key_pem: read(key)? });
    }
    let database = config.database.display().to_string();
    let server = xmtp_node::Server::bind(config).await.map_err(|e| e.to_string())?;
    println!("XMTP node listening on {} (database {database})", server.url());
    let _ = std::io::stdout().flush();
    server.run(shutdown_signal()).await.map_err(|e| e.to_string())
}
