//! This machine's CoWorker identity: a data directory holding `profile.toml` (name, network,
//! where the keys live, the agent file), the XMTP and agent state, and a lock so that one
//! process at a time uses it. [`Session`] opens all of it for a command.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use coworker_host::Api;
use coworker_host::control::ControlClient;
use coworker_host::identity::{Held, Identity};
use coworker_host::keys::{self, KeyStore};
use coworker_host::network::Network;
use coworker_runtime::Agent;
use serde::{Deserialize, Serialize};

use crate::output::{CliError, exit};
use coworker_host::agent_file::AgentFile;

/// The environment variable holding the key file's password.
pub(crate) const PASSWORD_VAR: &str = "COWORKER_KEYSTORE_PASSWORD";

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub(crate) struct Global {
    /// Network: embedded (an in-process node, the first-run default), local (a node on
    /// 127.0.0.1:5556), dev, production, a node URL or a d14n gateway (gateway:<url>). Saved by `init`.
    #[arg(long, global = true, env = "COWORKER_NETWORK")]
    pub(crate) network: Option<String>,
    /// Where the identity and state live [default: $XDG_DATA_HOME/coworker].
    #[arg(long, global = true, env = "COWORKER_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// `app`: work as the desktop app's identity, through the running app.
    #[arg(long, global = true, value_parser = ["app"], conflicts_with = "data_dir")]
    pub(crate) profile: Option<String>,
    /// Keep the keys in this password-encrypted file instead of the OS keychain (for headless
    /// hosts); the password comes from COWORKER_KEYSTORE_PASSWORD or a prompt.
    #[arg(long, global = true)]
    pub(crate) keystore: Option<PathBuf>,
    /// A PEM CA certificate to trust for an https:// node with a private CA.
    #[arg(long, global = true)]
    pub(crate) ca_cert: Option<PathBuf>,
    /// Machine-readable output: one JSON object per command (one per line for streams).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Only results and errors; no progress.
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
}

impl Global {
    pub(crate) fn data_dir(&self) -> PathBuf {
        if self.app() {
            return coworker_host::paths::app_data_dir();
        }
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    /// The data directory of an identity this process may hold itself (`init`, `serve`,
    /// `host`, `xmtp`): not the app's, which only the app opens.
    pub(crate) fn own_data_dir(&self) -> Result<PathBuf, CliError> {
        if self.app() {
            return Err(CliError::invalid("only the app opens its own identity")
                .hint("with --profile app, commands work through the running app"));
        }
        Ok(self.data_dir())
    }

    /// `--profile app`: the desktop app's identity.
    pub(crate) fn app(&self) -> bool {
        self.profile.as_deref() == Some("app")
    }
}

/// `$XDG_DATA_HOME/coworker` (or `~/.local/share/coworker`).
pub(crate) fn default_data_dir() -> PathBuf {
    coworker_host::paths::data_home().join("coworker")
}

/// Opens the password-encrypted key file at `path` (password from the environment or a
/// prompt), creating it if missing.
pub(crate) async fn open_key_file(path: &Path) -> Result<Arc<dyn KeyStore>, CliError> {
    keys::key_file(path, password()?).await.map_err(|e| {
        CliError::new("keystore", exit::FAILURE, e.message)
            .hint(format!("is {PASSWORD_VAR} the password this identity was made with?"))
    })
}

/// `profile.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Profile {
    pub(crate) name: String,
    pub(crate) network: String,
    /// The key file; `None`: the OS keychain.
    #[serde(default)]
    pub(crate) keystore: Option<PathBuf>,
    /// The agent file whose skills and policy this identity serves (set by `serve FILE`).
    #[serde(default)]
    pub(crate) agent_file: Option<PathBuf>,
}

impl Profile {
    pub(crate) fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("profile.toml")
    }

    pub(crate) fn load(data_dir: &Path) -> Result<Option<Self>, CliError> {
        let path = Self::path(data_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map(Some)
                .map_err(|e| CliError::other(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CliError::other(format!("cannot read {}: {e}", path.display()))),
        }
    }

    pub(crate) fn save(&self, data_dir: &Path) -> Result<(), CliError> {
        let text = toml::to_string(self).map_err(|e| CliError::other(e.to_string()))?;
        let path = Self::path(data_dir);
        std::fs::write(&path, text)
            .map_err(|e| CliError::other(format!("cannot write {}: {e}", path.display())))
    }

    /// A new profile: keys in `--keystore`, else in `data_dir/keys` when a password is in the
    /// environment (headless), else in the OS keychain.
    pub(crate) fn new(global: &Global, name: &str, data_dir: &Path) -> Self {
        let keystore = global
            .keystore
            .clone()
            .or_else(|| std::env::var_os(PASSWORD_VAR).map(|_| data_dir.join("keys")));
        Self {
            name: name.to_owned(),
            network: global.network.clone().unwrap_or_else(|| "embedded".into()),
            keystore,
            agent_file: None,
        }
    }
}

/// The identity a command works with: its running host when there is one (the app,
/// `coworker serve` or `coworker host`), reached over the control socket, else opened in this
/// process (serving while the command runs, with the embedded node if this process runs it).
pub(crate) struct Session {
    pub(crate) api: Api,
    pub(crate) profile: Profile,
    pub(crate) network: String,
    held: Option<Held>,
    node: Option<xmtp_node::Node>,
}

impl Session {
    /// The identity in the data directory (it must exist: `coworker init`): its host if one
    /// runs, else opened here.
    pub(crate) async fn open(global: &Global) -> Result<Self, CliError> {
        let data_dir = global.data_dir();
        if global.app() {
            // The app keeps its keys and settings its own way: only the running app opens it.
            let host = ControlClient::connect(&data_dir, "cli").await?.ok_or_else(|| {
                CliError::new(
                    "app_not_running",
                    exit::NOT_FOUND,
                    format!(
                        "the CoWorker app is not running (no socket in {})",
                        data_dir.display()
                    ),
                )
                .hint("start the app, then run the command again")
            })?;
            let welcome = host.welcome().clone();
            let profile = Profile {
                name: welcome.name,
                network: welcome.network.clone(),
                keystore: None,
                agent_file: None,
            };
            return Ok(Self {
                api: Api::Remote(host),
                profile,
                network: welcome.network,
                held: None,
                node: None,
            });
        }
        let profile = Profile::load(&data_dir)?.ok_or_else(|| {
            CliError::new(
                "no_identity",
                exit::NOT_FOUND,
                format!("no CoWorker identity in {}", data_dir.display()),
            )
            .hint("create one: coworker init --name NAME")
        })?;
        if let Some(host) = ControlClient::connect(&data_dir, "cli").await? {
            let network = host.welcome().network.clone();
            return Ok(Self { api: Api::Remote(host), profile, network, held: None, node: None });
        }
        Self::start(global, profile, &data_dir).await
    }

    /// The agent, when it runs in this process.
    pub(crate) fn agent(&self) -> Option<&Agent> {
        self.api.local()
    }

    /// Whether a running host serves this identity (this command is its client).
    pub(crate) fn hosted(&self) -> bool {
        matches!(self.api, Api::Remote(_))
    }

    /// Opens (registering it if new) the identity described by `profile`, serving it (and its
    /// control socket, so other commands reach it) while this process runs.
    pub(crate) async fn start(
        global: &Global,
        profile: Profile,
        data_dir: &Path,
    ) -> Result<Self, CliError> {
        let wanted = global.network.clone().unwrap_or_else(|| profile.network.clone());
        let (network, node) = resolve_network(&wanted).await?;
        // The key file may live in the data directory: it must exist first (0700 under the
        // CLI's umask; `Identity::open` checks and repairs its permissions).
        std::fs::create_dir_all(data_dir)
            .map_err(|e| CliError::other(format!("cannot create {}: {e}", data_dir.display())))?;
        let keys = match &profile.keystore {
            Some(path) => open_key_file(path).await?,
            None => {
                let account = data_dir.canonicalize().unwrap_or_else(|_| data_dir.to_owned());
                keys::keychain(keys::CLI_SERVICE, &account)
            }
        };
        let network_name = network.to_string();
        let mut identity = Identity::new(&profile.name, data_dir, network, &network_name, keys);
        if let Some(path) = &global.ca_cert {
            identity.trusted_ca_pem =
                Some(std::fs::read(path).map_err(|e| {
                    CliError::other(format!("cannot read {}: {e}", path.display()))
                })?);
        }
        let file = match &profile.agent_file {
            Some(path) => Some(AgentFile::load(path)?),
            None => None,
        };
        if let Some(file) = &file {
            file.configure(&mut identity.config);
        }
        let opened = identity.open().await.map_err(|e| {
            let unreachable = e.kind == coworker_host::ErrorKind::Unreachable;
            let error = CliError::from(e);
            if unreachable {
                error.hint("start a node (`coworker node`) or pick one with --network")
            } else {
                error
            }
        })?;
        if let Some(file) = file {
            file.install(&opened.agent).await?;
        }
        let held = opened.serve().await?;
        let agent = held.agent.clone();
        // What arrived while we were away (requests, answers, trust decisions) is handled
        // before the command reports anything.
        if !agent.catch_up_now(std::time::Duration::from_secs(3)).await? {
            tracing::warn!("some requests are still being handled");
        }
        Ok(Self { api: Api::Local(agent), profile, network: network_name, held: Some(held), node })
    }

    /// Where the control socket of an identity held here listens.
    pub(crate) fn control_socket(&self) -> Option<&Path> {
        self.held.as_ref().map(Held::control_socket)
    }

    /// Stops serving (saving how far each conversation was handled), the control socket and
    /// the embedded node.
    pub(crate) async fn close(mut self) {
        if let Some(held) = self.held.take() {
            held.stop().await;
        }
        if let Some(node) = self.node.take() {
            let _ = node.shutdown().await;
        }
    }
}

/// A network name as every front end reads it (see `coworker_host::network`).
async fn resolve_network(name: &str) -> Result<(Network, Option<xmtp_node::Node>), CliError> {
    let resolved = coworker_host::network::resolve(name)
        .await
        .map_err(|e| CliError::from(e).hint("--network embedded|local|dev|production|URL"))?;
    Ok((resolved.network, resolved.node))
}

/// The key file's password: from the environment, else asked on the terminal (not echoed).
#[allow(clippy::print_stderr)]
fn password() -> Result<String, CliError> {
    if let Ok(password) = std::env::var(PASSWORD_VAR) {
        return Ok(password);
    }
    let missing = || {
        CliError::new("keystore", exit::FAILURE, "the key file needs its password")
            .hint(format!("set {PASSWORD_VAR}, or run on a terminal to be asked"))
    };
    if !std::io::stdin().is_terminal() {
        return Err(missing());
    }
    eprint!("Key file password: ");
    let _ = std::io::stderr().flush();
    let echo = |on: bool| {
        std::process::Command::new("stty")
            .arg(if on { "echo" } else { "-echo" })
            .stdin(std::process::Stdio::inherit())
            .status()
    };
    let _ = echo(false);
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    let _ = echo(true);
    eprintln!();
    read.map_err(|_| missing())?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
