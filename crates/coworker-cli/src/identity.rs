//! Opening this machine's XMTP installation: the network, the data directory and the key file
//! (encrypted with a password from `COWORKER_KEYSTORE_PASSWORD`, so it runs headless).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use xmtp_client::keystore::KdfCost;
use xmtp_client::{Client, ClientOptions, FileKeyStore, KeyStore, Network};

/// The environment variable holding the key file's password.
pub(crate) const PASSWORD_VAR: &str = "COWORKER_KEYSTORE_PASSWORD";

/// Opens (registering on first use) the installation whose state lives in `data_dir`.
pub(crate) async fn open_client(
    network: &str,
    ca_cert: Option<&Path>,
    data_dir: &Path,
) -> Result<Client, String> {
    let network = Network::parse(network).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let password = std::env::var(PASSWORD_VAR)
        .map_err(|_| format!("set {PASSWORD_VAR}: it encrypts this installation's key file"))?;
    let key_path: PathBuf = data_dir.join("keys");
    let key_store = tokio::task::spawn_blocking(move || {
        FileKeyStore::open(&key_path, &password, KdfCost::default())
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let mut options = ClientOptions::new(
        network,
        data_dir.join("xmtp.db"),
        Arc::new(key_store) as Arc<dyn KeyStore>,
    );
    if let Some(path) = ca_cert {
        options.trusted_ca_pem =
            Some(std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?);
    }
    Client::open(options).await.map_err(|e| e.to_string())
}
