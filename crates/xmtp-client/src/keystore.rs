//! Where the client's secrets live: the wallet key, the installation key and the key that seals
//! MLS state in the database.
//!
//! [`KeyStore`] has three implementations: [`OsKeyStore`] (the OS keychain through `keyring`:
//! Secret Service on Linux, Keychain on macOS, Credential Manager on Windows), [`FileKeyStore`]
//! (a password-encrypted file for headless servers: Argon2id + XChaCha20-Poly1305) and
//! [`MemoryKeyStore`] (tests). Secrets never touch disk in plaintext.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

/// A key store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// The OS keychain is unavailable or refused access.
    #[error("OS keychain: {0}")]
    Keychain(String),
    /// The key file could not be read or written.
    #[error("key file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The password does not open the key file (or the file was tampered with).
    #[error("wrong password for key file {0} (or the file is corrupt)")]
    WrongPassword(PathBuf),
}

/// A place to keep named secrets. Implementations may block (the OS keychain talks D-Bus);
/// call them from a blocking context.
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// The secret stored under `name`, if any.
    fn load(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyStoreError>;
    /// Stores `secret` under `name`, replacing what was there.
    fn save(&self, name: &str, secret: &[u8]) -> Result<(), KeyStoreError>;
    /// Removes `name`; removing a missing name is not an error.
    fn delete(&self, name: &str) -> Result<(), KeyStoreError>;
}

/// Secrets in memory only: for tests and throwaway clients.
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    secrets: Mutex<BTreeMap<String, Zeroizing<Vec<u8>>>>,
}

impl KeyStore for MemoryKeyStore {
    fn load(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyStoreError> {
        let secrets = self.secrets.lock().unwrap_or_else(|e| e.into_inner());
        Ok(secrets.get(name).cloned())
    }

    fn save(&self, name: &str, secret: &[u8]) -> Result<(), KeyStoreError> {
        let mut secrets = self.secrets.lock().unwrap_or_else(|e| e.into_inner());
        secrets.insert(name.to_owned(), Zeroizing::new(secret.to_vec()));
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), KeyStoreError> {
        self.secrets.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
        Ok(())
    }
}

/// The OS keychain. Entries are `service` / `<account>.<name>`, so several accounts (profiles)
/// can share one service name.
#[derive(Debug, Clone)]
pub struct OsKeyStore {
    service: String,
    account: String,
}

impl OsKeyStore {
    /// A key store for `account` under the keychain service `service`.
    pub fn new(service: impl Into<String>, account: impl Into<String>) -> Self {
        Self { service: service.into(), account: account.into() }
    }

    fn entry(&self, name: &str) -> Result<keyring::Entry, KeyStoreError> {
        keyring::Entry::new(&self.service, &format!("{}.{name}", self.account))
            .map_err(|e| KeyStoreError::Keychain(e.to_string()))
    }
}

impl KeyStore for OsKeyStore {
    fn load(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyStoreError> {
        match self.entry(name)?.get_secret() {
            Ok(secret) => Ok(Some(Zeroizing::new(secret))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(KeyStoreError::Keychain(e.to_string())),
        }
    }

    fn save(&self, name: &str, secret: &[u8]) -> Result<(), KeyStoreError> {
        self.entry(name)?.set_secret(secret).map_err(|e| KeyStoreError::Keychain(e.to_string()))
    }

    fn delete(&self, name: &str) -> Result<(), KeyStoreError> {
        match self.entry(name)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(KeyStoreError::Keychain(e.to_string())),
        }
    }
}

const FILE_MAGIC: &[u8; 8] = b"CWKEYS01";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;

/// Argon2id cost of a [`FileKeyStore`] password.
#[derive(Debug, Clone, Copy)]
pub struct KdfCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
}

impl Default for KdfCost {
    /// OWASP's Argon2id recommendation: 19 MiB, 2 passes.
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2 }
    }
}

/// A password-encrypted file of secrets, for servers without a keychain.
///
/// Layout: `CWKEYS01` ‖ salt (16) ‖ nonce (24) ‖ XChaCha20-Poly1305(JSON map name → hex secret),
/// with the key derived by Argon2id from the password and salt, and the header as associated
/// data. Every save rewrites the file atomically (temp file + rename) with a fresh nonce.
pub struct FileKeyStore {
    path: PathBuf,
    salt: [u8; SALT_LEN],
    key: Zeroizing<[u8; 32]>,
    secrets: Mutex<BTreeMap<String, Zeroizing<Vec<u8>>>>,
}

impl std::fmt::Debug for FileKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKeyStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl FileKeyStore {
    /// Opens `path` with `password`, creating an empty store if the file does not exist.
    pub fn open(path: &Path, password: &str, cost: KdfCost) -> Result<Self, KeyStoreError> {
        let file_error = |reason: String| KeyStoreError::File { path: path.to_owned(), reason };
        match std::fs::read(path) {
            Ok(bytes) => {
                let header_len = FILE_MAGIC.len() + SALT_LEN + NONCE_LEN;
                if bytes.len() < header_len || &bytes[..FILE_MAGIC.len()] != FILE_MAGIC {
                    return Err(file_error("not a CoWorker key file".into()));
                }
                let mut salt = [0u8; SALT_LEN];
                salt.copy_from_slice(&bytes[8..8 + SALT_LEN]);
                let key = derive_key(password, &salt, cost).map_err(file_error)?;
                let nonce = XNonce::from_slice(&bytes[8 + SALT_LEN..header_len]);
                let plaintext = XChaCha20Poly1305::new(key.as_ref().into())
                    .decrypt(
                        nonce,
                        Payload { msg: &bytes[header_len..], aad: &bytes[..header_len] },
                    )
                    .map_err(|_| KeyStoreError::WrongPassword(path.to_owned()))?;
                let plaintext = Zeroizing::new(plaintext);
                let map: BTreeMap<String, String> = serde_json::from_slice(&plaintext)
                    .map_err(|e| file_error(format!("corrupt contents: {e}")))?;
                let secrets = map
                    .into_iter()
                    .map(|(name, value)| {
                        let value = Zeroizing::new(value);
                        hex::decode(value.as_bytes()).map(|v| (name, Zeroizing::new(v)))
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|e| file_error(format!("corrupt contents: {e}")))?;
                Ok(Self { path: path.to_owned(), salt, key, secrets: Mutex::new(secrets) })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut salt = [0u8; SALT_LEN];
                rand::rngs::OsRng.fill_bytes(&mut salt);
                let key = derive_key(password, &salt, cost).map_err(file_error)?;
                let store =
                    Self { path: path.to_owned(), salt, key, secrets: Mutex::new(BTreeMap::new()) };
                store.write(&BTreeMap::new())?;
                Ok(store)
            }
            Err(e) => Err(file_error(e.to_string())),
        }
    }

    fn write(&self, secrets: &BTreeMap<String, Zeroizing<Vec<u8>>>) -> Result<(), KeyStoreError> {
        let file_error = |reason: String| KeyStoreError::File { path: self.path.clone(), reason };
        let map: BTreeMap<&str, String> =
            secrets.iter().map(|(k, v)| (k.as_str(), hex::encode(v.as_slice()))).collect();
        let plaintext =
            Zeroizing::new(serde_json::to_vec(&map).map_err(|e| file_error(e.to_string()))?);
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(8 + SALT_LEN + NONCE_LEN + plaintext.len() + 16);
        out.extend_from_slice(FILE_MAGIC);
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&nonce);
        let ciphertext = XChaCha20Poly1305::new(self.key.as_ref().into())
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: &plaintext, aad: &out })
            .map_err(|_| file_error("encryption failed".into()))?;
        out.extend_from_slice(&ciphertext);
        let tmp = self.path.with_extension("tmp");
        write_private(&tmp, &out).map_err(|e| file_error(e.to_string()))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| file_error(e.to_string()))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

fn derive_key(password: &str, salt: &[u8], cost: KdfCost) -> Result<Zeroizing<[u8; 32]>, String> {
    let params = argon2::Params::new(cost.memory_kib, cost.iterations, 1, Some(32))
        .map_err(|e| e.to_string())?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon.hash_password_into(password.as_bytes(), salt, key.as_mut()).map_err(|e| e.to_string())?;
    Ok(key)
}

impl KeyStore for FileKeyStore {
    fn load(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyStoreError> {
        Ok(self.secrets.lock().unwrap_or_else(|e| e.into_inner()).get(name).cloned())
    }

    fn save(&self, name: &str, secret: &[u8]) -> Result<(), KeyStoreError> {
        let mut secrets = self.secrets.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = secrets.clone();
        next.insert(name.to_owned(), Zeroizing::new(secret.to_vec()));
        self.write(&next)?;
        *secrets = next;
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), KeyStoreError> {
        let mut secrets = self.secrets.lock().unwrap_or_else(|e| e.into_inner());
        if secrets.contains_key(name) {
            let mut next = secrets.clone();
            next.remove(name);
            self.write(&next)?;
            *secrets = next;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: KdfCost = KdfCost { memory_kib: 64, iterations: 1 };

    #[test]
    fn file_store_round_trips_and_never_holds_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let store = FileKeyStore::open(&path, "hunter2", CHEAP).unwrap();
        store.save("wallet", b"super-secret-wallet-key").unwrap();
        store.save("installation", &[7u8; 32]).unwrap();
        store.delete("installation").unwrap();
        drop(store);

        let raw = std::fs::read(&path).unwrap();
        assert!(!raw.windows(8).any(|w| w == b"super-se"));
        assert!(!String::from_utf8_lossy(&raw).contains(&hex::encode(b"super-secret")));

        let store = FileKeyStore::open(&path, "hunter2", CHEAP).unwrap();
        assert_eq!(store.load("wallet").unwrap().unwrap().as_slice(), b"super-secret-wallet-key");
        assert!(store.load("installation").unwrap().is_none());
    }

    #[test]
    fn file_store_rejects_a_wrong_password_and_a_tampered_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        FileKeyStore::open(&path, "right", CHEAP).unwrap().save("k", b"v").unwrap();
        let err = FileKeyStore::open(&path, "wrong", CHEAP).unwrap_err();
        assert!(matches!(err, KeyStoreError::WrongPassword(_)), "{err}");

        let mut raw = std::fs::read(&path).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        std::fs::write(&path, &raw).unwrap();
        let err = FileKeyStore::open(&path, "right", CHEAP).unwrap_err();
        assert!(matches!(err, KeyStoreError::WrongPassword(_)), "{err}");

        std::fs::write(&path, b"garbage").unwrap();
        let err = FileKeyStore::open(&path, "right", CHEAP).unwrap_err();
        assert!(matches!(err, KeyStoreError::File { .. }), "{err}");
    }
}
