//! Where things live. `COWORKER_DATA_DIR` means one thing everywhere: the identity's directory,
//! with the embedded node's database inside it; without it the CLI's identity lives in
//! `$XDG_DATA_HOME/coworker` and every front end shares the node database there.

use std::path::{Path, PathBuf};

/// The environment variable that moves an identity's data (and the node's messages with it).
pub const DATA_DIR_ENV: &str = "COWORKER_DATA_DIR";

/// `$XDG_DATA_HOME` (or `~/.local/share`).
pub fn data_home() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The CLI's identity: `COWORKER_DATA_DIR`, else `$XDG_DATA_HOME/coworker`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os(DATA_DIR_ENV).map_or_else(|| data_home().join("coworker"), PathBuf::from)
}

/// The embedded node's database: in `COWORKER_DATA_DIR` when it is set, else the machine's
/// shared one (`$XDG_DATA_HOME/coworker/node.db`), whichever process hosts the node.
pub fn node_database() -> PathBuf {
    default_data_dir().join("node.db")
}

/// The desktop app's identity directory (`$XDG_DATA_HOME/dev.coworker.app`, its Tauri
/// identifier), where the running app serves its control socket.
pub fn app_data_dir() -> PathBuf {
    data_home().join(APP_IDENTIFIER)
}

/// The desktop app's identifier (`tauri.conf.json`).
pub const APP_IDENTIFIER: &str = "dev.coworker.app";

/// The control API's socket in a data directory.
pub fn control_socket(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}
