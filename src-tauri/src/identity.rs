//! The app's identity and agent: the node the app embeds, the XMTP installation (keys in the
//! OS keychain), and the CoWorker agent serving while the app runs. Free of Tauri.
//!
//! `identity.toml` in the data directory records the name and the network the identity is on
//! (chosen at onboarding, changed in Settings); without it the app waits for onboarding. The
//! identity keeps one XMTP database per network it has been on (its conversations there):
//! `xmtp.db` for the first, `xmtp-<network>.db` for the others. Its peers, trust, skills,
//! receipts and settings are the same on every network.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use coworker_host::HostError;
use coworker_host::identity::{Held, Identity};
use coworker_host::keys::{self, KeyStore};
use coworker_host::network::Network;
use coworker_runtime::Agent;
use coworker_runtime::protocol::Invite;
use serde::{Deserialize, Serialize};

use crate::AppResult;

/// How long a plan we propose waits for the peer's owner to accept it.
pub const PLAN_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// Who this app is, for the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct IdentityInfo {
    /// The display name.
    pub name: String,
    /// XMTP inbox id.
    pub inbox_id: String,
    /// The wallet address.
    pub address: String,
    /// The network: `embedded`, `local`, `dev`, `production` or a node URL.
    pub network: String,
}

/// This app's invite, ready to share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct InviteInfo {
    /// The code to paste.
    pub code: String,
    /// The `coworker://invite/…` link.
    pub uri: String,
    /// A short label (`name-1a2b3c4d`).
    pub short_id: String,
    /// The link as an SVG QR code.
    pub qr_svg: String,
}

/// The name a saved network goes by: files written before networks were named say "".
fn named(network: &str) -> &str {
    if network.is_empty() { "embedded" } else { network }
}

/// `identity.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    name: String,
    network: String,
    /// The network chosen at onboarding, once the identity moved away from it (its database
    /// is `xmtp.db`). `None`: it is still on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_network: Option<String>,
}

impl Saved {
    /// The name the network goes by (`embedded` for the embedded node).
    fn network_name(&self) -> &str {
        named(&self.network)
    }

    /// The XMTP database of the network the identity is on.
    fn xmtp_database(&self, data_dir: &Path) -> PathBuf {
        let first = self.first_network.as_deref().map_or(self.network_name(), named);
        if first == self.network_name() {
            return data_dir.join("xmtp.db");
        }
        let slug: String = self
            .network_name()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .take(80)
            .collect();
        data_dir.join(format!("xmtp-{slug}.db"))
    }
}

/// Makes the key store for a data directory (the OS keychain in the app; memory in tests).
pub type Keys = Arc<dyn Fn(PathBuf) -> Arc<dyn KeyStore> + Send + Sync>;

/// The OS keychain, one entry set per data directory.
pub fn keychain() -> Keys {
    Arc::new(|dir: PathBuf| keys::keychain(keys::APP_SERVICE, &dir))
}

/// The running identity: the app holds it (its data directory's lock) and serves its control
/// API, so `coworker --profile app …`, MCP servers and Python programs work with this agent.
pub struct Running {
    /// The agent.
    pub agent: Agent,
    /// What the UI shows.
    pub info: IdentityInfo,
    held: Held,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("info", &self.info).finish_non_exhaustive()
    }
}

impl Running {
    /// Stops serving (its control socket first), saving how far each conversation was
    /// handled.
    pub async fn stop(self) {
        self.held.stop().await;
    }

    /// The invite for this identity.
    pub fn invite(&self) -> AppResult<InviteInfo> {
        let code = self.agent.invite(None).map_err(HostError::from)?;
        let invite = Invite::parse(&code, 0).map_err(HostError::from)?;
        let uri = Invite::uri(&code);
        let qr_svg = Invite::qr_svg(&uri).map_err(HostError::from)?;
        Ok(InviteInfo { short_id: invite.short_id(), code, uri, qr_svg })
    }
}

/// Where the embedded node listens and keeps its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedNode {
    /// Its loopback address (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Its SQLite database. The app and the `coworker` CLI share one
    /// (`$XDG_DATA_HOME/coworker/node.db`), so whichever of them hosts the node serves the
    /// same messages.
    pub database: PathBuf,
}

/// The embedded node: started on `node.listen`, or, when that address is taken (another
/// CoWorker process hosts it), used from there.
pub async fn start_node(node: &EmbeddedNode) -> AppResult<(String, Option<xmtp_node::Node>)> {
    let listen = node.listen;
    if let Some(dir) = node.database.parent() {
        coworker_runtime::private::data_dir(dir).map_err(|e| {
            HostError::failed("app.data_dir", format!("cannot create {}: {e}", dir.display()))
        })?;
    }
    let mut config = xmtp_node::NodeConfig::local(node.database.clone());
    config.listen = listen;
    match xmtp_node::start(config).await {
        Ok(node) => Ok((node.url().to_owned(), Some(node))),
        Err(e) if listen.port() != 0 => {
            tracing::info!("embedded node not started ({e}); using the one on {listen}");
            Ok((format!("http://{listen}"), None))
        }
        Err(e) => Err(HostError::new(
            coworker_host::ErrorKind::Unreachable,
            "app.node",
            format!("cannot start the embedded node: {e}"),
        )),
    }
}

fn saved_path(data_dir: &Path) -> PathBuf {
    data_dir.join("identity.toml")
}

/// Whether onboarding has happened.
pub fn exists(data_dir: &Path) -> bool {
    saved_path(data_dir).exists()
}

/// Creates the identity (registering it on the network) and starts its agent.
pub async fn create(
    data_dir: &Path,
    keys: &Keys,
    node_url: &str,
    name: &str,
    network: &str,
) -> AppResult<Running> {
    let name = name.trim();
    if name.is_empty() {
        return Err(HostError::invalid("app.name", "choose a name"));
    }
    if exists(data_dir) {
        return Err(HostError::failed("app.has_identity", "this app already has an identity"));
    }
    let saved =
        Saved { name: name.to_owned(), network: network.trim().to_owned(), first_network: None };
    let running = open_saved(data_dir, keys, node_url, &saved).await?;
    write_saved(data_dir, &saved)?;
    Ok(running)
}

fn write_saved(data_dir: &Path, saved: &Saved) -> AppResult<()> {
    let text = toml::to_string(saved)
        .map_err(|e| HostError::failed("app.identity_file", e.to_string()))?;
    std::fs::write(saved_path(data_dir), text)
        .map_err(|e| HostError::failed("app.identity_file", format!("identity.toml: {e}")))
}

fn read_saved(data_dir: &Path) -> AppResult<Saved> {
    let file = |e: &dyn std::fmt::Display| {
        HostError::failed("app.identity_file", format!("identity.toml: {e}"))
    };
    let text = std::fs::read_to_string(saved_path(data_dir)).map_err(|e| file(&e))?;
    toml::from_str(&text).map_err(|e| file(&e))
}

/// Whether `network` names the network the identity is on.
pub fn is_on(data_dir: &Path, network: &str) -> AppResult<bool> {
    let saved = read_saved(data_dir)?;
    Ok(saved.network_name() == named(network.trim()))
}

/// Opens the identity on `network` instead (registering it there if it is new to it), with
/// that network's conversations, and records the move. The identity must not be open; when
/// the new network cannot be reached nothing changes.
pub async fn open_on(
    data_dir: &Path,
    keys: &Keys,
    node_url: &str,
    network: &str,
) -> AppResult<Running> {
    let current = read_saved(data_dir)?;
    let network = network.trim();
    if network.is_empty() {
        return Err(HostError::invalid("app.network", "choose a network"));
    }
    let first = current.first_network.clone().unwrap_or_else(|| current.network.clone());
    let moved = Saved {
        name: current.name.clone(),
        network: network.to_owned(),
        first_network: Some(first).filter(|f| named(f) != named(network)),
    };
    let running = open_saved(data_dir, keys, node_url, &moved).await?;
    write_saved(data_dir, &moved)?;
    tracing::info!(from = current.network_name(), to = moved.network_name(), "identity moved");
    Ok(running)
}

/// Opens the identity made at onboarding and starts its agent.
pub async fn open(data_dir: &Path, keys: &Keys, node_url: &str) -> AppResult<Running> {
    open_saved(data_dir, keys, node_url, &read_saved(data_dir)?).await
}

async fn open_saved(
    data_dir: &Path,
    keys: &Keys,
    node_url: &str,
    saved: &Saved,
) -> AppResult<Running> {
    let network = match saved.network.as_str() {
        "" | "embedded" => Network::Url(node_url.to_owned()),
        other => coworker_host::network::resolve(other).await?.network,
    };
    let name = saved.network_name().to_owned();
    let key_store = keys(data_dir.to_path_buf());
    let mut identity = Identity::new(&saved.name, data_dir, network, &name, Arc::clone(&key_store));
    identity.xmtp_database = saved.xmtp_database(data_dir);
    // A person runs this agent: plans proposed by peers wait for them (a notification asks),
    // and our own proposals give the peer's owner time to decide.
    identity.config.plan_approval = true;
    identity.config.plan_wait = PLAN_WAIT;
    if let Some(planner) = crate::settings::planner(data_dir, key_store.as_ref()) {
        identity.config.planner = planner;
    }
    // One process holds an identity: a `coworker host` on this data directory is refused
    // here, and the app's agent is served to every other front end.
    let opened = identity.open().await?;
    crate::skill::register_saved(&opened.agent, data_dir)?;
    let held = opened.serve().await?;
    let agent = held.agent.clone();
    let info = IdentityInfo {
        name: saved.name.clone(),
        inbox_id: agent.inbox_id().to_owned(),
        address: agent.client().address(),
        network: name,
    };
    Ok(Running { agent, info, held })
}
