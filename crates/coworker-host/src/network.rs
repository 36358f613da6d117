//! Network names, the same in every front end: `embedded` (a node in this process on
//! 127.0.0.1:5556, or the one already listening there, with the shared database), `local` (the
//! node on 127.0.0.1:5556), `dev`, `production`, a node URL, or a d14n gateway
//! (`gateway:<url>`, `testnet-dev`, `testnet`).

pub use xmtp_client::Network;

use crate::error::{ErrorKind, HostError};

/// Where `embedded` and `local` find the node.
pub const LOCAL_NODE: &str = "127.0.0.1:5556";

/// A network resolved for a process: where to connect, and the node this process hosts (if it
/// does: keep it alive as long as the identity).
pub struct Resolved {
    /// What the client connects to.
    pub network: Network,
    /// The embedded node, when this process started it.
    pub node: Option<xmtp_node::Node>,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("network", &self.network.to_string())
            .finish_non_exhaustive()
    }
}

/// Resolves a network name. `embedded` starts the node on [`LOCAL_NODE`] with
/// [`crate::paths::node_database`] unless one already listens there (another process hosts it:
/// that one is used).
pub async fn resolve(name: &str) -> Result<Resolved, HostError> {
    let local = format!("http://{LOCAL_NODE}");
    match name.trim() {
        "embedded" => {
            let database = crate::paths::node_database();
            if let Some(dir) = database.parent() {
                let _ = coworker_runtime::private::data_dir(dir);
            }
            let mut config = xmtp_node::NodeConfig::local(database);
            config.listen = LOCAL_NODE
                .parse()
                .map_err(|_| HostError::new(ErrorKind::Failed, "host.node", "bad node address"))?;
            match xmtp_node::start(config).await {
                Ok(node) => {
                    Ok(Resolved { network: Network::Url(node.url().to_owned()), node: Some(node) })
                }
                // Taken: another process (a `coworker node`, a host, the app) runs it.
                Err(_) => Ok(Resolved { network: Network::Url(local), node: None }),
            }
        }
        "local" => Ok(Resolved { network: Network::Url(local), node: None }),
        other => {
            Network::parse(other).map(|network| Resolved { network, node: None }).map_err(|e| {
                HostError::new(
                    ErrorKind::InvalidInput,
                    "host.network",
                    format!(
                        "{e} (use embedded, local, dev, production, a node URL or gateway:<url>)"
                    ),
                )
            })
        }
    }
}
