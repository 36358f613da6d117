//! [`Client`]: opening an installation (keys, database, registration), identity operations, and
//! the shared state every conversation operation locks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use openmls::prelude::{GroupId, MlsGroup};
use tokio::sync::{Mutex, broadcast};
use xmtp_identity::{AssociationState, MemberIdentifier, update};
use xmtp_proto::identity_api as id_api;
use xmtp_proto::mls_api as api;

use crate::conversation::Event;
use crate::error::{ClientError, Result};
use crate::identity::{IdentityLogs, Keys, MlsSigner};
use crate::keystore::KeyStore;
use crate::mls::key_package;
use crate::mls::provider::Provider;
use crate::network::{Api, Network};
use crate::store::{Store, Write};

/// Most installations one inbox may have (libxmtp's `MAX_INSTALLATIONS_PER_INBOX`).
pub const MAX_INSTALLATIONS: usize = 10;

/// Wall-clock time, injectable for tests.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Nanoseconds since the Unix epoch.
    fn now_ns(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}

/// How to open a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The network to use.
    pub network: Network,
    /// The client's SQLite database (created if missing). One database per installation.
    pub database: PathBuf,
    /// Where the wallet, installation and storage keys live.
    pub key_store: Arc<dyn KeyStore>,
    /// Wall-clock time.
    pub clock: Arc<dyn Clock>,
    /// A PEM certificate authority trusted for `https://` nodes in addition to the web PKI
    /// roots: a self-hosted node with a private CA.
    pub trusted_ca_pem: Option<Vec<u8>>,
}

impl ClientOptions {
    /// Options with the system clock and the web PKI roots.
    pub fn new(network: Network, database: PathBuf, key_store: Arc<dyn KeyStore>) -> Self {
        Self { network, database, key_store, clock: Arc::new(SystemClock), trusted_ca_pem: None }
    }
}

/// Mutable state behind the client's lock: MLS storage, loaded groups, identity logs.
pub(crate) struct State {
    pub(crate) provider: Provider,
    pub(crate) groups: HashMap<Vec<u8>, MlsGroup>,
    pub(crate) logs: IdentityLogs,
    /// Our published envelopes not yet read back (hash → message id), mirrored in the store.
    pub(crate) sent: HashMap<[u8; 32], Option<Vec<u8>>>,
    /// Leave requests were recorded that we may have to act on.
    pub(crate) leave_requests: bool,
    /// When the last completed sync of each group started: a send queued before that instant
    /// needs no sync of its own (everything published before it was asked for was fetched).
    pub(crate) synced: HashMap<Vec<u8>, std::time::Instant>,
    /// Envelopes (group id, place) whose processing panicked: skipped from now on.
    pub(crate) poisoned: std::collections::HashSet<(Vec<u8>, crate::cursor::Position)>,
    /// Our envelopes whose publish failed without the node's answer: hash → (group, when).
    /// The node may have stored them; a later sync settles which (see `Store::failed_sends`).
    pub(crate) failed: HashMap<[u8; 32], (Vec<u8>, u64)>,
}

impl State {
    /// Back to what the database holds, with only `group` loaded again: for changes that
    /// touched that group alone (the fuzz target's inputs).
    pub(crate) fn recover_group(&mut self, group: &[u8]) {
        self.provider.roll_back();
        let storage = openmls_traits::OpenMlsProvider::storage(&self.provider);
        match MlsGroup::load(storage, &GroupId::from_slice(group)) {
            Ok(Some(loaded)) => {
                self.groups.insert(group.to_vec(), loaded);
            }
            _ => {
                self.groups.remove(group);
            }
        }
    }

    /// After a panic: back to what the database holds, every group loaded again.
    pub(crate) fn recover(&mut self) {
        self.provider.roll_back();
        let storage = openmls_traits::OpenMlsProvider::storage(&self.provider);
        let ids: Vec<Vec<u8>> = self.groups.keys().cloned().collect();
        for id in ids {
            match MlsGroup::load(storage, &GroupId::from_slice(&id)) {
                Ok(Some(group)) => {
                    self.groups.insert(id, group);
                }
                _ => {
                    tracing::warn!(group = %hex::encode(&id), "group state lost in a panic");
                    self.groups.remove(&id);
                }
            }
        }
    }
}

pub(crate) struct Inner {
    pub(crate) api: Api,
    pub(crate) network: Network,
    pub(crate) store: Store,
    pub(crate) keys: Keys,
    pub(crate) inbox_id: String,
    pub(crate) installation_key: [u8; 32],
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) state: Mutex<State>,
    pub(crate) events: broadcast::Sender<Event>,
    /// Signalled when this installation creates a conversation, so the stream re-subscribes.
    pub(crate) created: tokio::sync::Notify,
}

/// An XMTP client: one installation of one inbox. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("inbox_id", &self.inner.inbox_id)
            .field("installation", &hex::encode(self.inner.installation_key))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Opens the installation whose keys are in `options.key_store`, creating keys, database and
    /// registration as needed. Reopening resumes the same installation (an inbox allows only 10).
    pub async fn open(options: ClientOptions) -> Result<Self> {
        let key_store = Arc::clone(&options.key_store);
        let keys = tokio::task::spawn_blocking(move || {
            Keys::load_or_create(key_store.as_ref(), &mut rand::rngs::OsRng)
        })
        .await
        .map_err(|e| ClientError::InvalidInput(format!("key store task failed: {e}")))??;
        let installation_key = keys.installation.public_key();
        let store = Store::open(&options.database, &keys.storage).await?;
        let api = Api::connect(
            &options.network,
            options.trusted_ca_pem.as_deref(),
            installation_key,
            Arc::clone(&options.clock),
        )?;

        let saved = store.installation().await?;
        if let Some((_, saved_key, _)) = &saved
            && saved_key.as_slice() != installation_key
        {
            return Err(ClientError::InvalidInput(format!(
                "database {} belongs to another installation than the key store's",
                options.database.display()
            )));
        }
        let inbox_id = match &saved {
            Some((inbox_id, ..)) => inbox_id.clone(),
            None => {
                let inbox_id = find_or_derive_inbox(&api, &keys).await?;
                store.save_installation(&inbox_id, &installation_key).await?;
                inbox_id
            }
        };

        let provider = Provider::with_values(store.mls_values().await?);
        let mut groups = HashMap::new();
        for row in store.conversations().await? {
            if !row.active {
                continue;
            }
            let id = GroupId::from_slice(&row.id);
            match MlsGroup::load(openmls_traits::OpenMlsProvider::storage(&provider), &id) {
                Ok(Some(group)) => {
                    groups.insert(row.id, group);
                }
                Ok(None) => tracing::warn!(group = %hex::encode(&row.id), "group state missing"),
                Err(e) => tracing::warn!(group = %hex::encode(&row.id), "cannot load group: {e}"),
            }
        }
        let sent = store.unconfirmed_sends().await?;
        let failed = store.failed_sends().await?;
        let (events, _) = broadcast::channel(1024);
        let client = Self {
            inner: Arc::new(Inner {
                api,
                network: options.network,
                store,
                keys,
                inbox_id,
                installation_key,
                clock: options.clock,
                state: Mutex::new(State {
                    provider,
                    groups,
                    logs: IdentityLogs::default(),
                    sent,
                    leave_requests: true,
                    synced: HashMap::new(),
                    poisoned: Default::default(),
                    failed,
                }),
                events,
                created: tokio::sync::Notify::new(),
            }),
        };
        if !saved.as_ref().is_some_and(|(_, _, registered)| *registered) {
            client.register().await?;
        }
        Ok(client)
    }

    /// This inbox's id.
    pub fn inbox_id(&self) -> &str {
        &self.inner.inbox_id
    }

    /// Signs application data (invite codes, receipts) with this installation's Ed25519 key.
    /// `message` must start with a domain-separation prefix of the caller's own (such as
    /// `"CoWorker receipt v1\n"`), so it can never pass for an MLS or identity signature.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.inner.keys.installation.sign_raw(message)
    }

    /// The network this client talks to.
    pub fn network(&self) -> &Network {
        &self.inner.network
    }

    /// This installation's public key (its id on the network).
    pub fn installation_id(&self) -> [u8; 32] {
        self.inner.installation_key
    }

    /// The wallet address that owns this inbox.
    pub fn address(&self) -> String {
        self.inner.keys.wallet.address()
    }

    /// Subscribes to new messages and conversations (delivered by [`Client::sync_all`] and the
    /// stream task, see [`Client::stream`]).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    pub(crate) fn now_ns(&self) -> u64 {
        self.inner.clock.now_ns()
    }

    pub(crate) fn signer(&self) -> MlsSigner<'_> {
        MlsSigner(&self.inner.keys.installation)
    }

    /// Uploads a key package, then publishes the identity update that creates the inbox or adds
    /// this installation to it (libxmtp's order).
    async fn register(&self) -> Result<()> {
        let inbox = self.inner.inbox_id.clone();
        let mut state = self.inner.state.lock().await;
        state.logs.refresh(&self.inner.api, &[&inbox]).await?;
        let keys = &self.inner.keys;
        let update = match state.logs.latest(&inbox) {
            None => Some(update::registration(&keys.wallet, &keys.installation, 1, self.now_ns())?),
            Some(current)
                if current.installation_keys().any(|k| k == self.inner.installation_key) =>
            {
                None
            }
            Some(current) if current.installation_keys().count() >= MAX_INSTALLATIONS => {
                return Err(ClientError::TooManyInstallations(inbox));
            }
            Some(_) => Some(update::add_installation(
                &inbox,
                &keys.wallet,
                &keys.installation,
                self.now_ns(),
            )?),
        };
        self.upload_key_package(&mut state).await?;
        if let Some(update) = update {
            self.inner
                .api
                .identity
                .clone()
                .publish_identity_update(id_api::PublishIdentityUpdateRequest {
                    identity_update: Some(update),
                })
                .await?;
        }
        self.inner.store.mark_registered().await?;
        tracing::info!(inbox = %inbox, installation = %hex::encode(self.inner.installation_key), "registered");
        Ok(())
    }

    /// Saves `write`, whose MLS changes were just taken from the provider. When saving fails (a
    /// full disk, a locked database) memory goes back to what the database holds, so nothing
    /// counts as done that was not saved: the input that caused it is processed again later.
    pub(crate) async fn save(&self, state: &mut State, write: Write) -> Result<()> {
        let saved = self.inner.store.write(write).await;
        if let Err(e) = &saved {
            tracing::warn!(code = e.code(), "saving client state failed; memory rolled back: {e}");
            state.provider.undo_take();
            state.recover();
            if let Ok(sent) = self.inner.store.unconfirmed_sends().await {
                state.sent = sent;
            }
            if let Ok(failed) = self.inner.store.failed_sends().await {
                state.failed = failed;
            }
        }
        saved
    }

    /// Creates, stores and uploads a fresh last-resort key package.
    pub(crate) async fn upload_key_package(&self, state: &mut State) -> Result<()> {
        let fresh = key_package::create(&state.provider, &self.signer(), &self.inner.inbox_id)?;
        let write = Write {
            mls: state.provider.take_changes(),
            key_packages: vec![(fresh.init_key, fresh.hash_ref, self.now_ns() as i64)],
            ..Write::default()
        };
        self.save(state, write).await?;
        self.inner
            .api
            .mls
            .clone()
            .upload_key_package(api::UploadKeyPackageRequest {
                key_package: Some(api::KeyPackageUpload {
                    key_package_tls_serialized: fresh.tls.into(),
                }),
                is_inbox_id_credential: true,
            })
            .await?;
        Ok(())
    }

    /// The inbox registered for an Ethereum `address`, if any.
    pub async fn find_inbox_id(&self, address: &str) -> Result<Option<String>> {
        let member = MemberIdentifier::ethereum(address)?;
        lookup_inbox(&self.inner.api, &member).await
    }

    /// The verified identity state of `inbox_id` (members and installations).
    pub async fn inbox_state(&self, inbox_id: &str) -> Result<AssociationState> {
        let mut state = self.inner.state.lock().await;
        state.logs.refresh(&self.inner.api, &[inbox_id]).await?;
        state
            .logs
            .latest(inbox_id)
            .cloned()
            .ok_or_else(|| ClientError::NotFound(format!("inbox {inbox_id}")))
    }

    /// Installation keys of this inbox.
    pub async fn installations(&self) -> Result<Vec<[u8; 32]>> {
        let state = self.inbox_state(&self.inner.inbox_id.clone()).await?;
        Ok(state.installation_keys().filter_map(|k| <[u8; 32]>::try_from(k).ok()).collect())
    }

    /// Revokes other installations of this inbox (signed by the wallet, which must be the inbox's
    /// recovery identifier). Revoking this installation itself is refused.
    pub async fn revoke_installations(&self, keys: &[[u8; 32]]) -> Result<()> {
        if keys.contains(&self.inner.installation_key) {
            return Err(ClientError::InvalidInput(
                "cannot revoke this installation from itself".into(),
            ));
        }
        for key in keys {
            let member = MemberIdentifier::Installation(key.to_vec());
            let update = update::revoke(
                &self.inner.inbox_id,
                &self.inner.keys.wallet,
                &member,
                self.now_ns(),
            )?;
            self.inner
                .api
                .identity
                .clone()
                .publish_identity_update(id_api::PublishIdentityUpdateRequest {
                    identity_update: Some(update),
                })
                .await?;
        }
        Ok(())
    }
}

async fn lookup_inbox(api: &Api, member: &MemberIdentifier) -> Result<Option<String>> {
    let address = member.ethereum_address().unwrap_or_default().to_owned();
    let response = api
        .identity
        .clone()
        .get_inbox_ids(id_api::GetInboxIdsRequest {
            requests: vec![id_api::get_inbox_ids_request::Request {
                identifier: address,
                identifier_kind: xmtp_proto::associations::IdentifierKind::Ethereum as i32,
            }],
        })
        .await?
        .into_inner();
    Ok(response.responses.into_iter().find_map(|r| r.inbox_id))
}

/// The inbox the wallet already has on the network, or the one registration will create.
async fn find_or_derive_inbox(api: &Api, keys: &Keys) -> Result<String> {
    let member = keys.wallet.member();
    Ok(match lookup_inbox(api, &member).await? {
        Some(inbox) => inbox,
        None => xmtp_identity::inbox_id(&member, 1),
    })
}
