//! What CoWorker's tests share, so each test file says only what it tests:
//!
//! - [`Net`]: the project's own XMTP node on a free loopback port, over SQLite in a temporary
//!   directory that also holds the agents' state;
//! - [`Net::agent`] / [`Net::agent_with`]: real agents (real keys in memory, real SQLite);
//!   [`Net::member`] keeps the keys too, so [`Net::reopen`] can bring the same agent back as
//!   after a restart of its process;
//! - [`wait_for`]: waits for an agent event that matches, with a deadline; [`eventually`]:
//!   polls a condition until it holds.
//!
//! Nothing here is a mock: the node, the client, MLS and the stores are the ones that ship.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use coworker_runtime::{Agent, AgentConfig, AgentEvent};
use tokio::sync::{broadcast, mpsc};
use xmtp_client::{Client, ClientOptions, KeyStore, MemoryKeyStore, Network};

/// A node and a directory for the agents' state. Dropping it stops the node.
pub struct Net {
    node: xmtp_node::Node,
    dir: tempfile::TempDir,
    /// The agents speak the decentralized network's API (the node as their gateway).
    d14n: bool,
}

impl Net {
    /// Starts a node on `127.0.0.1:0`.
    ///
    /// # Panics
    /// When the node cannot start (a broken test machine).
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// [`Net::start`] with `configure` applied to the node's configuration.
    ///
    /// # Panics
    /// When the node cannot start.
    pub async fn start_with(configure: impl FnOnce(&mut xmtp_node::NodeConfig)) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = xmtp_node::NodeConfig::local(dir.path().join("node.db"));
        configure(&mut config);
        let node = xmtp_node::start(config).await.expect("the node starts");
        Self { node, dir, d14n: false }
    }

    /// [`Net::start`] with agents that speak d14n, the node as their gateway.
    ///
    /// # Panics
    /// When the node cannot start.
    pub async fn start_d14n() -> Self {
        Self { d14n: true, ..Self::start().await }
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        self.node.url()
    }

    /// Where the agents' state lives.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The network the agents join.
    pub fn network(&self) -> Network {
        if self.d14n {
            Network::Gateway(self.url().to_owned())
        } else {
            Network::Url(self.url().to_owned())
        }
    }

    /// A new agent with its keys in memory (a 10 s task deadline).
    pub async fn agent(&self, name: &str) -> Agent {
        self.agent_with(name, |_| {}).await
    }

    /// [`Net::agent`] with `configure` applied to its configuration.
    pub async fn agent_with(&self, name: &str, configure: impl FnOnce(&mut AgentConfig)) -> Agent {
        let keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
        self.open(name, keys, configure).await
    }

    /// The agent `name` with `keys`, its state in [`Net::dir`]: the same name and keys reopen
    /// the same agent.
    pub async fn open(
        &self,
        name: &str,
        keys: Arc<dyn KeyStore>,
        configure: impl FnOnce(&mut AgentConfig),
    ) -> Agent {
        open(&self.network().to_string(), self.dir(), name, keys, configure).await
    }

    /// A new agent that keeps its keys, to be reopened.
    pub async fn member(&self, name: &str) -> Member {
        self.member_with(name, |_| {}).await
    }

    /// [`Net::member`] with `configure` applied to its configuration.
    pub async fn member_with(
        &self,
        name: &str,
        configure: impl FnOnce(&mut AgentConfig),
    ) -> Member {
        let keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
        let agent = self.open(name, Arc::clone(&keys), configure).await;
        Member { agent, keys, name: name.to_owned() }
    }

    /// The agent `name` with `keys` again, as after a restart of its process (drop or stop
    /// the old one first).
    pub async fn reopen(
        &self,
        name: &str,
        keys: &Arc<dyn KeyStore>,
        configure: impl FnOnce(&mut AgentConfig),
    ) -> Agent {
        self.open(name, Arc::clone(keys), configure).await
    }
}

/// The agent `name` with `keys` on the network `url` (a node URL, or `gateway:<url>`), its
/// state in `dir` (a 10 s task deadline): for a test that opens agents on a runtime of its own.
///
/// # Panics
/// When it cannot open (the node is down, the state is corrupt).
pub async fn open(
    url: &str,
    dir: &Path,
    name: &str,
    keys: Arc<dyn KeyStore>,
    configure: impl FnOnce(&mut AgentConfig),
) -> Agent {
    let network = Network::parse(url).expect("a node URL or gateway:<url>");
    let database = dir.join(format!("{name}.xmtp.db"));
    let mut config = AgentConfig::new(name, dir.join(format!("{name}.agent.db")));
    config.deadline = Duration::from_secs(10);
    configure(&mut config);
    // The agent's clock is its machine's: its XMTP client reads the same one.
    let mut options = ClientOptions::new(network, database, keys);
    options.clock = Arc::clone(&config.clock);
    let client = Client::open(options).await.expect("the client opens");
    Agent::open(client, config).await.expect("the agent opens")
}

/// An agent with the keys to reopen it.
pub struct Member {
    /// The agent.
    pub agent: Agent,
    /// Its keys.
    pub keys: Arc<dyn KeyStore>,
    /// Its name (and the name of its databases).
    pub name: String,
}

impl std::ops::Deref for Member {
    type Target = Agent;
    fn deref(&self) -> &Agent {
        &self.agent
    }
}

/// Polls `check` every 50 ms until it holds.
///
/// # Panics
/// When it does not within 15 s (the test fails with `what`).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

/// Where a test reads an agent's events from: the agent's own broadcast, or a front end's
/// subscription (`coworker_host::Api::events`).
pub trait Events {
    /// The next event; `None` when the agent stopped.
    fn next(&mut self) -> impl Future<Output = Option<AgentEvent>> + Send;
}

impl Events for broadcast::Receiver<AgentEvent> {
    async fn next(&mut self) -> Option<AgentEvent> {
        loop {
            match self.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl Events for mpsc::UnboundedReceiver<AgentEvent> {
    async fn next(&mut self) -> Option<AgentEvent> {
        self.recv().await
    }
}

/// Waits up to `within` for an event `pick` maps to `Some`, and returns it.
///
/// # Panics
/// When none comes in time (the test fails with what it waited for).
pub async fn wait_for<T>(
    events: &mut impl Events,
    within: Duration,
    what: &str,
    mut pick: impl FnMut(&AgentEvent) -> Option<T>,
) -> T {
    let found = tokio::time::timeout(within, async {
        while let Some(event) = events.next().await {
            if let Some(found) = pick(&event) {
                return found;
            }
        }
        panic!("the agent stopped before {what}")
    })
    .await;
    found.unwrap_or_else(|_| panic!("no {what} within {within:?}"))
}
