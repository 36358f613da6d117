//! Where an identity's keys live: the OS keychain (one entry set per data directory and front
//! end), a password-encrypted key file for headless hosts, or memory (tests, demos). Front ends
//! choose here; nothing above this crate names the XMTP client's types.

use std::path::Path;
use std::sync::Arc;

pub use xmtp_client::keystore::{KdfCost, KeyStoreError};
pub use xmtp_client::{FileKeyStore, KeyStore, MemoryKeyStore, OsKeyStore};

use crate::error::HostError;

/// The keychain service of the desktop app's identity.
pub const APP_SERVICE: &str = crate::paths::APP_IDENTIFIER;
/// The keychain service of identities made by the `coworker` command.
pub const CLI_SERVICE: &str = "dev.coworker.cli";

/// The OS keychain entries of the identity in `data_dir`, under `service`: the account is the
/// path as given (the CLI gives it canonical; the app its data directory as configured), so it
/// must be given the same way every time.
pub fn keychain(service: &str, data_dir: &Path) -> Arc<dyn KeyStore> {
    Arc::new(OsKeyStore::new(service, data_dir.display().to_string()))
}

/// Opens (or creates) the key file at `path` with `password` (the key derivation is slow on
/// purpose, so it runs off the async threads). A wrong password is `host.keystore`.
pub async fn key_file(path: &Path, password: String) -> Result<Arc<dyn KeyStore>, HostError> {
    let path = path.to_owned();
    let opened = tokio::task::spawn_blocking(move || {
        FileKeyStore::open(&path, &password, KdfCost::default())
    })
    .await
    .map_err(|e| HostError::failed("host.keystore", e.to_string()))?;
    let store = opened.map_err(|e| HostError::failed("host.keystore", e.to_string()))?;
    Ok(Arc::new(store))
}
