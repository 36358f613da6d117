//! This installation's keys, and verified identity logs of every inbox it talks to.
//!
//! An inbox's installations are trusted only as far as its identity log, replayed and
//! signature-checked by `xmtp-identity`, says: a key package, a group member or a welcome
//! sender whose installation key is not in its inbox's verified state is rejected.

use std::collections::HashMap;

use openmls::prelude::SignatureScheme;
use openmls_traits::signatures::{Signer, SignerError};
use rand::RngCore;
use xmtp_identity::{AssociationState, InstallationKey, WalletKey};
use xmtp_proto::identity_api as api;

use crate::error::{ClientError, Result};
use crate::keystore::KeyStore;
use crate::network::Api;

const WALLET: &str = "wallet";
const INSTALLATION: &str = "installation";
const STORAGE: &str = "storage";

/// The secrets of one installation, loaded from (or created in) a [`KeyStore`].
pub(crate) struct Keys {
    pub(crate) wallet: WalletKey,
    pub(crate) installation: InstallationKey,
    /// Seals MLS state at rest (see `store`).
    pub(crate) storage: zeroize::Zeroizing<[u8; 32]>,
}

impl Keys {
    /// Loads the keys, creating any that are missing with `rng`. A new installation key is only
    /// created when none exists: the inbox allows at most 10 installations.
    pub(crate) fn load_or_create(store: &dyn KeyStore, rng: &mut dyn RngCore) -> Result<Self> {
        let mut secret = |name: &str| -> Result<[u8; 32]> {
            if let Some(bytes) = store.load(name)? {
                return <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                    ClientError::InvalidInput(format!("key store entry {name:?} is not 32 bytes"))
                });
            }
            let mut fresh = [0u8; 32];
            rng.fill_bytes(&mut fresh);
            if name == WALLET {
                // Any 32 bytes below the curve order; retry the astronomically rare miss.
                while WalletKey::from_bytes(&fresh).is_err() {
                    rng.fill_bytes(&mut fresh);
                }
            }
            store.save(name, &fresh)?;
            Ok(fresh)
        };
        let wallet = WalletKey::from_bytes(&secret(WALLET)?)?;
        let installation = InstallationKey::from_bytes(&secret(INSTALLATION)?);
        let storage = zeroize::Zeroizing::new(secret(STORAGE)?);
        Ok(Self { wallet, installation, storage })
    }
}

/// The installation key as an MLS signer (Ed25519, the same key XMTP registers).
pub(crate) struct MlsSigner<'a>(pub(crate) &'a InstallationKey);

impl Signer for MlsSigner<'_> {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(self.0.sign_raw(payload).to_vec())
    }

    fn signature_scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

/// One inbox's verified log: the state after each sequence id.
#[derive(Debug, Clone, Default)]
struct InboxLog {
    /// (sequence id, state after that update), ascending.
    states: Vec<(u64, AssociationState)>,
}

/// Verified identity logs, fetched incrementally from the node and replayed locally.
#[derive(Debug, Default)]
pub(crate) struct IdentityLogs {
    inboxes: HashMap<String, InboxLog>,
}

impl IdentityLogs {
    /// Fetches what is new in the logs of `inbox_ids` and verifies it. A log that fails to
    /// verify is an error naming the inbox; nothing of it is kept.
    pub(crate) async fn refresh(&mut self, api: &Api, inbox_ids: &[&str]) -> Result<()> {
        if inbox_ids.is_empty() {
            return Ok(());
        }
        let requests = inbox_ids
            .iter()
            .map(|inbox| api::get_identity_updates_request::Request {
                inbox_id: (*inbox).to_owned(),
                sequence_id: self.latest_sequence_id(inbox),
            })
            .collect();
        let response = api
            .identity
            .clone()
            .get_identity_updates(api::GetIdentityUpdatesRequest { requests })
            .await?
            .into_inner();
        for response in response.responses {
            let log = self.inboxes.entry(response.inbox_id.clone()).or_default();
            let mut states = log.states.clone();
            for entry in response.updates {
                let update = entry.update.ok_or_else(|| {
                    ClientError::malformed("identity update", "log entry without an update")
                })?;
                if states.last().is_some_and(|(seq, _)| entry.sequence_id <= *seq) {
                    continue; // already verified
                }
                let next = AssociationState::apply(states.last().map(|(_, s)| s), &update)
                    .map_err(|e| {
                        ClientError::Verification(format!(
                            "identity log of inbox {} at sequence id {}: {e}",
                            response.inbox_id, entry.sequence_id
                        ))
                    })?;
                if next.inbox_id() != response.inbox_id {
                    return Err(ClientError::Verification(format!(
                        "the node returned a log for inbox {} that belongs to {}",
                        response.inbox_id,
                        next.inbox_id()
                    )));
                }
                states.push((entry.sequence_id, next));
            }
            log.states = states;
        }
        Ok(())
    }

    /// The newest verified sequence id of `inbox` (0 if none).
    pub(crate) fn latest_sequence_id(&self, inbox: &str) -> u64 {
        self.inboxes.get(inbox).and_then(|l| l.states.last()).map_or(0, |(seq, _)| *seq)
    }

    /// The newest verified state of `inbox`.
    pub(crate) fn latest(&self, inbox: &str) -> Option<&AssociationState> {
        self.inboxes.get(inbox).and_then(|l| l.states.last()).map(|(_, s)| s)
    }

    /// The state of `inbox` as of `sequence_id` (the last update at or before it).
    pub(crate) fn at(&self, inbox: &str, sequence_id: u64) -> Option<&AssociationState> {
        let log = self.inboxes.get(inbox)?;
        log.states.iter().rev().find(|(seq, _)| *seq <= sequence_id).map(|(_, s)| s)
    }

    /// Whether `installation_key` is an installation of `inbox` as of `sequence_id`.
    pub(crate) fn has_installation(&self, inbox: &str, sequence_id: u64, key: &[u8]) -> bool {
        self.at(inbox, sequence_id).is_some_and(|s| s.installation_keys().any(|k| k == key))
    }
}
