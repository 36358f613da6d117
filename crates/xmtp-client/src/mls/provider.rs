//! The openmls provider: RustCrypto plus an in-memory store whose changes are written to SQLite
//! in the same transaction as the cursor that caused them.

use std::collections::HashMap;

use openmls_rust_crypto::{MemoryStorage, RustCrypto};
use openmls_traits::OpenMlsProvider;

/// One storage change: the key and its new value (`None` = deleted).
pub(crate) type Change = (Vec<u8>, Option<Vec<u8>>);

#[derive(Default)]
pub(crate) struct Provider {
    crypto: RustCrypto,
    storage: MemoryStorage,
    /// What the database holds, to compute what changed since the last write.
    persisted: HashMap<Vec<u8>, Vec<u8>>,
    /// What the last [`Provider::take_changes`] replaced in `persisted`, until its write is done.
    undo: Vec<Change>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider").field("persisted_keys", &self.persisted.len()).finish()
    }
}

impl Provider {
    /// A provider holding `values` (as loaded from the database).
    pub(crate) fn with_values(values: HashMap<Vec<u8>, Vec<u8>>) -> Self {
        let storage = MemoryStorage::default();
        *storage.values.write().unwrap_or_else(|e| e.into_inner()) = values.clone();
        Self { crypto: RustCrypto::default(), storage, persisted: values, undo: Vec::new() }
    }

    /// What changed since the last call; the caller writes it to the database.
    pub(crate) fn take_changes(&mut self) -> Vec<Change> {
        let values = self.storage.values.read().unwrap_or_else(|e| e.into_inner());
        let mut changes = Vec::new();
        for (key, value) in values.iter() {
            if self.persisted.get(key) != Some(value) {
                changes.push((key.clone(), Some(value.clone())));
            }
        }
        for key in self.persisted.keys() {
            if !values.contains_key(key) {
                changes.push((key.clone(), None));
            }
        }
        drop(values);
        self.undo.clear();
        for (key, value) in &changes {
            let old = match value {
                Some(value) => self.persisted.insert(key.clone(), value.clone()),
                None => self.persisted.remove(key),
            };
            self.undo.push((key.clone(), old));
        }
        changes
    }

    /// The write of the last [`Provider::take_changes`] failed: the database still holds what
    /// it held before. Call [`Provider::roll_back`] next to drop the changes from memory too.
    pub(crate) fn undo_take(&mut self) {
        for (key, old) in self.undo.drain(..).rev() {
            match old {
                Some(old) => self.persisted.insert(key, old),
                None => self.persisted.remove(&key),
            };
        }
    }
}

impl Provider {
    /// Forgets every change since the last [`Provider::take_changes`] (after a panic left the
    /// in-memory state half-updated). Groups must be loaded again afterwards.
    pub(crate) fn roll_back(&mut self) {
        let mut values = self.storage.values.write().unwrap_or_else(|e| e.into_inner());
        values.retain(|key, _| self.persisted.contains_key(key));
        for (key, value) in &self.persisted {
            if values.get(key) != Some(value) {
                values.insert(key.clone(), value.clone());
            }
        }
    }
}

impl OpenMlsProvider for Provider {
    type CryptoProvider = RustCrypto;
    type RandProvider = RustCrypto;
    type StorageProvider = MemoryStorage;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }

    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }

    fn rand(&self) -> &Self::RandProvider {
        &self.crypto
    }
}
