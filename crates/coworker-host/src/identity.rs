//! Opening an identity in the process that holds it, the same way in every front end: the data
//! directory made private, its lock taken, the XMTP client opened on a resolved network with the
//! identity's key store, the agent opened, then served with its control socket.
//!
//! Two steps, so a front end can install skills between them:
//! [`Identity::open`] → [`Opened`] (the agent, not yet serving) → [`Opened::serve`] → [`Held`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use coworker_runtime::{Agent, AgentConfig, Serving};
use xmtp_client::{Client, ClientOptions};

use crate::control::ControlServer;
use crate::error::{ErrorKind, HostError};
use crate::keys::KeyStore;
use crate::lock::DataDirLock;
use crate::network::Network;

/// What opening an identity needs.
pub struct Identity {
    /// Its data directory (`agent.db`, `xmtp.db`, the lock, the control socket).
    pub data_dir: PathBuf,
    /// The agent's settings (name, database, planner, policy); [`Identity::new`] fills the name
    /// and database.
    pub config: AgentConfig,
    /// Where the client connects.
    pub network: Network,
    /// The XMTP client's database; [`Identity::new`] puts it at `xmtp.db` in the data
    /// directory. An identity that moves between networks keeps one per network.
    pub xmtp_database: PathBuf,
    /// The network's name as the owner gave it (`embedded`, `dev`, a URL), for the control API.
    pub network_name: String,
    /// Where its keys live.
    pub keys: Arc<dyn KeyStore>,
    /// A PEM CA certificate to trust for an https:// node with a private CA.
    pub trusted_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("data_dir", &self.data_dir)
            .field("name", &self.config.name)
            .field("network", &self.network_name)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The identity `name` in `data_dir` on `network`, keys in `keys`.
    pub fn new(
        name: &str,
        data_dir: &Path,
        network: Network,
        network_name: &str,
        keys: Arc<dyn KeyStore>,
    ) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            config: AgentConfig::new(name, data_dir.join("agent.db")),
            network,
            xmtp_database: data_dir.join("xmtp.db"),
            network_name: network_name.to_owned(),
            keys,
            trusted_ca_pem: None,
        }
    }

    /// Makes the data directory the owner's alone (0700, files 0600, repaired with a warning),
    /// takes its lock (`host.busy` if another process holds it), opens the client (registering
    /// the identity if it is new) and the agent.
    pub async fn open(self) -> Result<Opened, HostError> {
        let data_dir = self.data_dir;
        let warnings = coworker_runtime::private::data_dir(&data_dir).map_err(|e| {
            HostError::failed("host.io", format!("cannot create {}: {e}", data_dir.display()))
        })?;
        for warning in warnings {
            tracing::warn!("{warning}");
        }
        let lock = DataDirLock::take(&data_dir)?;
        let mut options = ClientOptions::new(self.network, self.xmtp_database, self.keys);
        options.trusted_ca_pem = self.trusted_ca_pem;
        let name = self.network_name;
        let client = Client::open(options).await.map_err(|e| {
            let mut error = HostError::from(e);
            if error.kind == ErrorKind::Unreachable {
                error.message = format!("cannot reach the {name} network: {}", error.message);
            }
            error
        })?;
        let agent = Agent::open(client, self.config).await?;
        Ok(Opened { agent, data_dir, network_name: name, lock })
    }
}

/// An open identity whose agent does not serve yet (install skills now).
#[derive(Debug)]
pub struct Opened {
    /// The agent.
    pub agent: Agent,
    data_dir: PathBuf,
    network_name: String,
    lock: DataDirLock,
}

impl Opened {
    /// Serves the agent to peers and its control API to other front ends.
    pub async fn serve(self) -> Result<Held, HostError> {
        let serving = self.agent.serve().await?;
        let control = ControlServer::start(self.agent.clone(), &self.data_dir, &self.network_name)?;
        Ok(Held {
            agent: self.agent,
            network_name: self.network_name,
            serving,
            control,
            _lock: self.lock,
        })
    }
}

/// The identity this process holds: its agent serving peers and other front ends.
#[derive(Debug)]
pub struct Held {
    /// The agent.
    pub agent: Agent,
    network_name: String,
    serving: Serving,
    control: ControlServer,
    _lock: DataDirLock,
}

impl Held {
    /// The network's name as the owner gave it.
    pub fn network_name(&self) -> &str {
        &self.network_name
    }

    /// Where the control API listens.
    pub fn control_socket(&self) -> &Path {
        self.control.path()
    }

    /// Stops: the control socket takes no new clients, serving stops and drains (the skills
    /// of connected clients still answer the requests in progress), then the clients are
    /// disconnected; the lock is released last.
    pub async fn stop(mut self) {
        self.control.stop_accepting();
        self.serving.stop().await;
        self.control.stop();
    }
}
