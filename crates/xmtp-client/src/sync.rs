//! Receiving: group messages and commits page by page from each conversation's cursor,
//! welcomes from the installation's cursor, and the stream task that keeps both live.
//!
//! Each page is written in one transaction with the cursor that consumed it, so a restart
//! resumes exactly where processing stopped. Undecryptable or malformed input is logged and
//! skipped; it never stops a sync or a stream.

use std::time::Duration;

use openmls::prelude::{
    KeyPackageBundle, KeyPackageRef, MlsMessageBodyIn, MlsMessageIn, ProcessedMessageContent,
    Sender, StagedWelcome,
};
use prost::Message as _;
use sha2::{Digest, Sha256};
use tls_codec::Deserialize as _;
use tokio::sync::watch;
use tokio_stream::StreamExt;
use xmtp_proto::mls_api as api;

use crate::client::{Client, State};
use crate::content::{self, ContentType, EncodedContent};
use crate::conversation::{ConversationId, Event, Message, describe};
use crate::cursor::{Cursor, Position};
use crate::error::{ClientError, Result};
use crate::mls::extensions::{GroupExtensions, Kind};
use crate::mls::validate::{self, CommitSummary, Leaf};
use crate::mls::{self, welcome};
use crate::network::Page;
use crate::store::{ConversationRow, MessageRow, Write};

const PAGE: u32 = 100;

/// How long after a publish failed without an answer a sync must start before not finding the
/// message proves the node never stored it. Well above any node's request handling time.
pub const FAILED_SEND_GRACE_NS: u64 = 120 * 1_000_000_000;

/// Whether a failed query's response was over a message-size limit (ours when decoding, or the
/// node's when encoding).
fn too_large(status: &tonic::Status) -> bool {
    matches!(status.code(), tonic::Code::OutOfRange | tonic::Code::ResourceExhausted)
        && status.message().contains("too large")
}

/// Tests make the MLS library "panic" on one envelope (group id, envelope id).
#[cfg(test)]
pub(crate) static INJECTED_PANIC: std::sync::Mutex<Option<(Vec<u8>, u64)>> =
    std::sync::Mutex::new(None);

#[cfg(test)]
fn inject_panic(group_id: &[u8], envelope: u64) {
    let armed = INJECTED_PANIC.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if armed.as_ref().is_some_and(|(g, e)| g == group_id && *e == envelope) {
        panic!("injected: the MLS library panicked on envelope {envelope}");
    }
}

/// An envelope whose processing panicked.
struct Poisoned(Position);

/// Why a sync stopped.
enum Step {
    Poisoned(Position),
    Failed(ClientError),
}

impl From<ClientError> for Step {
    fn from(e: ClientError) -> Self {
        Self::Failed(e)
    }
}

/// A conversation joined from a welcome.
pub(crate) struct Joined {
    pub(crate) row: ConversationRow,
    /// Where reading its messages starts.
    pub(crate) start: Cursor,
    pub(crate) conversation: crate::conversation::Conversation,
}

/// What processing one envelope did.
pub(crate) enum Outcome {
    Nothing,
    /// Our pending commit was read back and merged.
    MergedOwnCommit,
}

impl Client {
    /// Fetches new welcomes and the messages of every conversation.
    pub async fn sync_all(&self) -> Result<()> {
        self.sync_welcomes().await?;
        let ids: Vec<Vec<u8>> = {
            let state = self.inner.state.lock().await;
            state.groups.keys().cloned().collect()
        };
        // One conversation that cannot be synced (a hostile backlog, a broken state) never
        // stops the others; an unreachable node or a database that cannot save (a full disk)
        // ends the round, so the caller (the stream) retries it later.
        for id in ids {
            let mut state = self.inner.state.lock().await;
            if let Err(e) = self.sync_group_locked(&mut state, &id).await {
                if matches!(e.code(), "client.unreachable" | "client.storage") {
                    return Err(e);
                }
                tracing::warn!(group = %hex::encode(&id), code = e.code(), "sync skipped: {e}");
            }
        }
        self.act_on_leave_requests().await
    }

    /// Fetches new messages of one conversation.
    pub async fn sync(&self, id: &ConversationId) -> Result<()> {
        let mut state = self.inner.state.lock().await;
        if !state.groups.contains_key(&id.0) {
            return Err(ClientError::NotFound(format!("conversation {id}")));
        }
        self.sync_group_locked(&mut state, &id.0).await
    }

    /// Starts fetching the page of the group's messages after `cursor`.
    fn fetch_page(
        &self,
        group_id: &[u8],
        cursor: &Cursor,
        limit: u32,
    ) -> tokio::task::JoinHandle<Result<Page<api::group_message::V1>>> {
        let mls = self.inner.api.mls.clone();
        let (group_id, cursor) = (group_id.to_vec(), cursor.clone());
        tokio::spawn(async move { Ok(mls.group_messages(&group_id, &cursor, limit).await?) })
    }

    pub(crate) async fn sync_group_locked(&self, state: &mut State, group_id: &[u8]) -> Result<()> {
        self.sync_group_locked_with(state, group_id, None).await.map(|_| ())
    }

    /// Processes the group's envelopes after its cursor. With `pending` (the hash of a commit
    /// we just published) returns the sequence id of that commit if it was merged.
    ///
    /// An envelope whose processing panics (the MLS library on hostile input) is contained:
    /// the state goes back to the last write, the envelope is marked poisoned and the sync
    /// starts again from the stored cursor without it.
    pub(crate) async fn sync_group_locked_with(
        &self,
        state: &mut State,
        group_id: &[u8],
        pending: Option<[u8; 32]>,
    ) -> Result<Option<u64>> {
        loop {
            match self.sync_pages(state, group_id, pending).await {
                Err(Poisoned(envelope)) => {
                    tracing::error!(
                        group = %hex::encode(group_id),
                        originator = envelope.originator,
                        envelope = envelope.sequence_id,
                        "processing an envelope panicked; it is skipped and the state rolled back"
                    );
                    state.recover();
                    state.poisoned.insert((group_id.to_vec(), envelope));
                }
                Ok(result) => return result,
            }
        }
    }

    async fn sync_pages(
        &self,
        state: &mut State,
        group_id: &[u8],
        pending: Option<[u8; 32]>,
    ) -> std::result::Result<Result<Option<u64>>, Poisoned> {
        match self.sync_pages_inner(state, group_id, pending).await {
            Err(Step::Poisoned(envelope)) => Err(Poisoned(envelope)),
            Err(Step::Failed(e)) => Ok(Err(e)),
            Ok(merged) => Ok(Ok(merged)),
        }
    }

    async fn sync_pages_inner(
        &self,
        state: &mut State,
        group_id: &[u8],
        pending: Option<[u8; 32]>,
    ) -> std::result::Result<Option<u64>, Step> {
        let started = std::time::Instant::now();
        let started_ns = self.now_ns();
        let mut cursor = self.inner.store.cursor(group_id).await?;
        let mut merged = None;
        let mut limit = PAGE;
        let mut asked = cursor.clone();
        let mut next = Some(self.fetch_page(group_id, &asked, limit));
        while let Some(fetch) = next.take() {
            let page = match fetch
                .await
                .map_err(|e| ClientError::Mls(format!("fetch task failed: {e}")))?
            {
                Ok(page) => page,
                // A page too large for one response (a node that does not page by size,
                // many large messages): ask for fewer at a time.
                Err(ClientError::Node(status)) if too_large(&status) && limit > 1 => {
                    limit = (limit / 4).max(1);
                    tracing::warn!(group = %hex::encode(group_id), limit, "page too large; asking for fewer messages");
                    asked = cursor.clone();
                    next = Some(self.fetch_page(group_id, &asked, limit));
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let Page { items, more, reached } = page;
            // A page that moved nothing ends the sync (also one a node sends again and again).
            if reached == asked {
                break;
            }
            // More may follow: fetch the next page while this one is processed.
            if more {
                asked = reached.clone();
                next = Some(self.fetch_page(group_id, &asked, limit));
            }
            let mut write = Write::default();
            let mut events = Vec::new();
            for (position, v1) in items {
                if !cursor.advance(position) {
                    continue;
                }
                if state.poisoned.contains(&(group_id.to_vec(), position)) {
                    continue;
                }
                match self
                    .process_envelope(state, group_id, &v1, pending, &mut write, &mut events)
                    .await
                {
                    Ok(Outcome::MergedOwnCommit) => merged = Some(position.sequence_id),
                    Ok(Outcome::Nothing) => {}
                    Err(ClientError::Panicked(_)) => return Err(Step::Poisoned(position)),
                    Err(e) => {
                        tracing::warn!(group = %hex::encode(group_id), originator = position.originator, envelope = position.sequence_id, code = e.code(), "skipped: {e}");
                    }
                }
            }
            cursor.merge(&reached);
            write.mls = state.provider.take_changes();
            write.cursors.push((group_id.to_vec(), cursor.clone()));
            self.save(state, write).await?;
            for event in events {
                let _ = self.inner.events.send(event);
            }
        }
        let stale = pending.is_some() && merged.is_none();
        if let Some(group) =
            state.groups.get_mut(group_id).filter(|g| stale && g.pending_commit().is_some())
        {
            let _ = group
                .clear_pending_commit(openmls_traits::OpenMlsProvider::storage(&state.provider));
            let changes = state.provider.take_changes();
            self.save(state, Write { mls: changes, ..Write::default() }).await?;
        }
        self.settle_failed_sends(state, group_id, started_ns).await?;
        state.synced.insert(group_id.to_vec(), started);
        Ok(merged)
    }

    /// Our failed sends to `group_id` that this sync (started at `started_ns`) did not read
    /// back although it started [`FAILED_SEND_GRACE_NS`] after they failed: the node never
    /// stored them, so no peer has them; they leave our history too.
    async fn settle_failed_sends(
        &self,
        state: &mut State,
        group_id: &[u8],
        started_ns: u64,
    ) -> Result<()> {
        let lost: Vec<[u8; 32]> = state
            .failed
            .iter()
            .filter(|(_, (group, at))| {
                group == group_id && started_ns.saturating_sub(*at) > FAILED_SEND_GRACE_NS
            })
            .map(|(hash, _)| *hash)
            .collect();
        if lost.is_empty() {
            return Ok(());
        }
        self.inner.store.write(Write { dropped: lost.clone(), ..Write::default() }).await?;
        for hash in lost {
            state.failed.remove(&hash);
            state.sent.remove(&hash);
            tracing::info!(group = %hex::encode(group_id), "a failed send never reached the node; dropped");
        }
        Ok(())
    }

    pub(crate) async fn process_envelope(
        &self,
        state: &mut State,
        group_id: &[u8],
        v1: &api::group_message::V1,
        pending: Option<[u8; 32]>,
        write: &mut Write,
        events: &mut Vec<Event>,
    ) -> Result<Outcome> {
        let hash: [u8; 32] = Sha256::digest(&v1.data).into();
        if let Some(sent) = state.sent.remove(&hash) {
            write.confirmed.push(hash);
            state.failed.remove(&hash);
            if pending == Some(hash) {
                let State { provider, groups, .. } = &mut *state;
                if let Some(group) = groups.get_mut(group_id) {
                    group.merge_pending_commit(provider).map_err(ClientError::mls)?;
                    if let Some(row) = self.row(group_id).await? {
                        events.push(Event::Conversation(describe(group, &row)?));
                    }
                    return Ok(Outcome::MergedOwnCommit);
                }
            }
            if let Some(message_id) = sent {
                write.envelope_ids.push((message_id, v1.id as i64));
            }
            return Ok(Outcome::Nothing);
        }
        let State { provider, groups, logs, leave_requests, .. } = &mut *state;
        let Some(group) = groups.get_mut(group_id) else { return Ok(Outcome::Nothing) };
        let processed = ClientError::contain("a group message", || {
            #[cfg(test)]
            inject_panic(group_id, v1.id);
            let message = MlsMessageIn::tls_deserialize_exact(v1.data.as_ref())
                .map_err(|e| ClientError::malformed("group message", e))?;
            let protocol = message
                .try_into_protocol_message()
                .map_err(|e| ClientError::malformed("group message", e))?;
            group.process_message(provider, protocol).map_err(ClientError::mls)
        })?;
        let sender = processed.sender().clone();
        let sender_inbox = mls::credential_inbox_id(processed.credential())?;
        let sender_key = match &sender {
            Sender::Member(index) => {
                group.member_at(*index).map(|m| m.signature_key).unwrap_or_default()
            }
            _ => Vec::new(),
        };
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(app) => {
                // In a DM only its two inboxes speak.
                if let Kind::Dm(a, b) = &GroupExtensions::decode(group.extensions())?.kind
                    && sender_inbox != *a
                    && sender_inbox != *b
                {
                    return Err(ClientError::Verification(format!(
                        "a message in a DM from inbox {sender_inbox}, which is not in it"
                    )));
                }
                let bytes = app.into_bytes();
                let Some((content, key)) = content::open_envelope(&bytes)? else {
                    return Ok(Outcome::Nothing);
                };
                let encoded = EncodedContent::decode(content.as_slice())
                    .map_err(|e| ClientError::malformed("encoded content", e))?;
                let content_type =
                    encoded.r#type.as_ref().map(ContentType::from_proto).ok_or_else(|| {
                        ClientError::malformed("encoded content", "no content type")
                    })?;
                if content_type.is(&ContentType::leave_request()) {
                    let ext = GroupExtensions::decode(group.extensions())?;
                    if ext.kind == Kind::Group && ext.membership.contains_key(&sender_inbox) {
                        if sender_inbox == self.inner.inbox_id {
                            // Another installation of ours asked to leave.
                            write.leaving.push(group_id.to_vec());
                        } else {
                            write
                                .removals_requested
                                .push((group_id.to_vec(), sender_inbox.clone()));
                            *leave_requests = true;
                        }
                    }
                }
                let row = MessageRow {
                    id: content::message_id(group_id, &key, &content).to_vec(),
                    conversation_id: group_id.to_vec(),
                    sender_inbox,
                    sender_installation: sender_key,
                    sent_ns: v1.created_ns as i64,
                    envelope_id: Some(v1.id as i64),
                    content_type: content_type.to_string(),
                    content,
                };
                events.push(Event::Message(Message::from_row(row.clone())?));
                write.messages.push(row);
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                if group.pending_commit().is_some() {
                    // Another member's commit won this epoch; ours is void.
                    group
                        .clear_pending_commit(openmls_traits::OpenMlsProvider::storage(provider))
                        .map_err(ClientError::mls)?;
                }
                let old = GroupExtensions::decode(group.extensions())?;
                let new = GroupExtensions::decode(staged.group_context().extensions())?;
                let leaf =
                    |credential: &openmls::prelude::Credential, key: &[u8]| -> Result<Leaf> {
                        Ok(Leaf {
                            inbox_id: mls::credential_inbox_id(credential)?,
                            installation_key: key.to_vec(),
                        })
                    };
                let adds = staged
                    .add_proposals()
                    .map(|p| {
                        let leaf_node = p.add_proposal().key_package().leaf_node();
                        leaf(leaf_node.credential(), leaf_node.signature_key().as_slice())
                    })
                    .collect::<Result<Vec<_>>>()?;
                let removes = staged
                    .remove_proposals()
                    .filter_map(|p| group.member_at(p.remove_proposal().removed()))
                    .map(|m| leaf(&m.credential, &m.signature_key))
                    .collect::<Result<Vec<_>>>()?;
                let path_leaf = staged
                    .update_path_leaf_node()
                    .map(|l| leaf(l.credential(), l.signature_key().as_slice()))
                    .transpose()?;
                let summary = CommitSummary {
                    committer: Leaf { inbox_id: sender_inbox, installation_key: sender_key },
                    adds,
                    removes,
                    has_psk: staged.psk_proposals().next().is_some(),
                    foreign_proposals: staged.queued_proposals().any(|p| *p.sender() != sender),
                    update_proposals: staged.update_proposals().count(),
                    path_leaf,
                    new,
                };
                let inboxes = validate::inboxes_to_verify(&old, &summary);
                let refs: Vec<&str> = inboxes.iter().map(String::as_str).collect();
                logs.refresh(&self.inner.api, &refs).await?;
                if let Err(reason) = validate::check_commit(&old, &summary, logs) {
                    return Err(ClientError::Verification(format!("commit rejected: {reason}")));
                }
                ClientError::contain("a commit", || {
                    group.merge_staged_commit(provider, *staged).map_err(ClientError::mls)
                })?;
                if !group.is_active() {
                    write.deactivate.push(group_id.to_vec());
                }
                if let Some(mut row) = self.row(group_id).await? {
                    row.active = group.is_active();
                    events.push(Event::Conversation(describe(group, &row)?));
                }
            }
            _ => tracing::debug!(group = %hex::encode(group_id), "ignoring a standalone proposal"),
        }
        Ok(Outcome::Nothing)
    }

    /// Acts on leave requests recorded since the last call (and, after a restart, on all).
    async fn act_on_leave_requests(&self) -> Result<()> {
        let waiting = std::mem::take(&mut self.inner.state.lock().await.leave_requests);
        if waiting {
            self.remove_leavers().await?;
        }
        Ok(())
    }

    async fn row(&self, group_id: &[u8]) -> Result<Option<ConversationRow>> {
        self.inner.store.conversation(group_id).await
    }

    /// Fetches and joins new welcomes; returns the conversations joined.
    pub async fn sync_welcomes(&self) -> Result<Vec<ConversationId>> {
        let mut state = self.inner.state.lock().await;
        let mut cursor = self.inner.store.welcome_cursor().await?;
        let mut joined = Vec::new();
        let mut limit = PAGE;
        loop {
            let page = match self.inner.api.mls.clone().welcomes(&cursor, limit).await {
                Ok(page) => page,
                // Anyone can send us welcomes: large ones must not stop every sync.
                Err(status) if too_large(&status) && limit > 1 => {
                    limit = (limit / 4).max(1);
                    tracing::warn!(limit, "welcome page too large; asking for fewer");
                    continue;
                }
                Err(status) => return Err(status.into()),
            };
            let Page { items, more, reached } = page;
            let done = reached == cursor;
            for (position, message) in items {
                if !cursor.advance(position) {
                    continue;
                }
                let result = match message.version {
                    Some(api::welcome_message::Version::V1(v1)) => self.join(&mut state, &v1).await,
                    Some(api::welcome_message::Version::WelcomePointer(_)) => Err(
                        ClientError::malformed("welcome", "welcome pointers are not advertised"),
                    ),
                    None => Err(ClientError::malformed("welcome", "no content")),
                };
                if matches!(result, Err(ClientError::Panicked(_))) {
                    // Nothing the panic half-did is kept.
                    state.recover();
                }
                let write = Write {
                    mls: state.provider.take_changes(),
                    welcome_cursor: Some(cursor.clone()),
                    ..Write::default()
                };
                match result {
                    Ok(Some(Joined { row, start, conversation })) => {
                        let mut write = write;
                        write.cursors.push((row.id.clone(), start));
                        write.new_conversations.push(row);
                        self.save(&mut state, write).await?;
                        let _ = self.inner.events.send(Event::Conversation(conversation.clone()));
                        joined.push(conversation.id);
                    }
                    Ok(None) => self.save(&mut state, write).await?,
                    Err(e) => {
                        tracing::warn!(
                            originator = position.originator,
                            welcome = position.sequence_id,
                            code = e.code(),
                            "skipped welcome: {e}"
                        );
                        self.save(&mut state, write).await?;
                    }
                }
            }
            if cursor.merge(&reached) {
                let write = Write { welcome_cursor: Some(cursor.clone()), ..Write::default() };
                self.inner.store.write(write).await?;
            }
            if !more || done {
                break;
            }
        }
        if !joined.is_empty() {
            // The key package was used: publish a fresh one (the old stays for late welcomes).
            self.upload_key_package(&mut state).await?;
            for id in &joined {
                self.sync_group_locked(&mut state, &id.0).await?;
            }
        }
        Ok(joined)
    }

    /// Unwraps, validates and joins one welcome. `Ok(None)` if the group is already joined.
    pub(crate) async fn join(
        &self,
        state: &mut State,
        v1: &api::welcome_message::V1,
    ) -> Result<Option<Joined>> {
        if v1.wrapper_algorithm != welcome::CURVE25519 {
            return Err(ClientError::malformed(
                "welcome",
                format!("wrapper algorithm {} is not Curve25519", v1.wrapper_algorithm),
            ));
        }
        let hash_ref =
            self.inner.store.key_package_ref(&v1.hpke_public_key).await?.ok_or_else(|| {
                ClientError::malformed("welcome", "addressed to an unknown key package")
            })?;
        let bundle: KeyPackageBundle = openmls_traits::storage::StorageProvider::key_package(
            openmls_traits::OpenMlsProvider::storage(&state.provider),
            &KeyPackageRef::tls_deserialize_exact(hash_ref.as_slice())
                .map_err(|e| ClientError::malformed("stored key package ref", e))?,
        )
        .map_err(ClientError::mls)?
        .ok_or_else(|| ClientError::malformed("welcome", "key package secrets are gone"))?;
        let (bytes, message_cursor) =
            welcome::unwrap(bundle.init_private_key(), &v1.data, &v1.welcome_metadata)?;
        let MlsMessageBodyIn::Welcome(mls_welcome) =
            MlsMessageIn::tls_deserialize_exact(bytes.as_slice())
                .map_err(|e| ClientError::malformed("welcome", e))?
                .extract()
        else {
            return Err(ClientError::malformed("welcome", "not an MLS Welcome"));
        };
        let staged = ClientError::contain("a welcome", || {
            StagedWelcome::build_from_welcome(&state.provider, &mls::join_config(), mls_welcome)
                .map_err(ClientError::mls)?
                .skip_lifetime_validation()
                .build()
                .map_err(ClientError::mls)
        })?;
        let group_id = staged.group_context().group_id().as_slice().to_vec();
        if state.groups.contains_key(&group_id) {
            return Ok(None);
        }
        let ext = GroupExtensions::decode(staged.group_context().extensions())?;
        let leaves = staged
            .members()
            .map(|m| {
                Ok(Leaf {
                    inbox_id: mls::credential_inbox_id(&m.credential)?,
                    installation_key: m.signature_key,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let sender_node = staged.welcome_sender().map_err(ClientError::mls)?;
        let sender = Leaf {
            inbox_id: mls::credential_inbox_id(sender_node.credential())?,
            installation_key: sender_node.signature_key().as_slice().to_vec(),
        };
        let inboxes: Vec<&str> = ext.membership.keys().map(String::as_str).collect();
        state.logs.refresh(&self.inner.api, &inboxes).await?;
        validate::check_welcome(&ext, &leaves, &sender, &self.inner.inbox_id, &state.logs)
            .map_err(|reason| ClientError::Verification(format!("welcome rejected: {reason}")))?;
        let group = ClientError::contain("a welcome", || {
            staged.into_group(&state.provider).map_err(ClientError::mls)
        })?;
        let dm_peer = match &ext.kind {
            Kind::Dm(a, b) => Some(if *a == self.inner.inbox_id { b.clone() } else { a.clone() }),
            Kind::Group => None,
        };
        let row = ConversationRow {
            id: group_id.clone(),
            kind: if dm_peer.is_some() { "dm" } else { "group" }.to_owned(),
            dm_peer,
            created_ns: self.now_ns() as i64,
            active: true,
            leaving: false,
        };
        let conversation = describe(&group, &row)?;
        state.groups.insert(group_id, group);
        Ok(Some(Joined { row, start: Cursor::joined_at(message_cursor), conversation }))
    }

    /// Starts the stream task: it catches up, then follows the node's welcome and group-message
    /// subscriptions, reconnecting with backoff (and catching up again) whenever they drop.
    /// Messages and conversations arrive on [`Client::subscribe`].
    pub fn stream(&self) -> StreamHandle {
        let (stop, stopped) = watch::channel(false);
        let client = self.clone();
        let task = tokio::spawn(async move { client.run_streams(stopped).await });
        StreamHandle { stop, task }
    }

    async fn run_streams(&self, mut stopped: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(50);
        loop {
            if *stopped.borrow() {
                return;
            }
            // Each round runs as its own task: should anything in it panic, the stream starts
            // again (from the stored cursors) instead of ending silently.
            let client = self.clone();
            let mut round_stopped = stopped.clone();
            let round = tokio::spawn(async move { client.follow(&mut round_stopped).await });
            let outcome = match round.await {
                Ok(outcome) => outcome,
                Err(joined) => {
                    tracing::error!("the stream task failed ({joined}); restarting it");
                    self.inner.state.lock().await.recover();
                    Err(ClientError::Panicked("the stream"))
                }
            };
            match outcome {
                Ok(true) => return,
                Ok(false) => backoff = Duration::from_millis(50),
                Err(e) => {
                    tracing::warn!(
                        code = e.code(),
                        "stream interrupted, reconnecting in {backoff:?}: {e}"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stopped.changed() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// One subscription round: `Ok(true)` when stopped, `Ok(false)` to re-subscribe (new
    /// conversation joined), `Err` when the connection failed.
    async fn follow(&self, stopped: &mut watch::Receiver<bool>) -> Result<bool> {
        self.sync_all().await?;
        let welcome_cursor = self.inner.store.welcome_cursor().await?;
        let mls = self.inner.api.mls.clone();
        let mut welcomes = mls.subscribe_welcomes(&welcome_cursor).await?.into_inner();
        let mut cursors = self.inner.store.cursors().await?;
        let groups: Vec<(Vec<u8>, Cursor)> = self
            .inner
            .store
            .conversations()
            .await?
            .into_iter()
            .filter(|c| c.active)
            .map(|c| {
                let cursor = cursors.remove(&c.id).unwrap_or_default();
                (c.id, cursor)
            })
            .collect();
        let mut groups = mls.subscribe_group_messages(groups).await?.into_inner();
        // Messages that arrived between the catch-up and the subscriptions are replayed by the
        // node from the cursors above.
        loop {
            tokio::select! {
                _ = stopped.changed() => return Ok(true),
                () = self.inner.created.notified() => return Ok(false),
                welcome = welcomes.next() => match welcome {
                    Some(Ok(_)) => {
                        if !self.sync_welcomes().await?.is_empty() {
                            return Ok(false); // subscribe to the new conversation too
                        }
                    }
                    Some(Err(status)) => return Err(status.into()),
                    None => return Err(ClientError::Transport("welcome stream ended".into())),
                },
                message = groups.next() => match message {
                    Some(Ok(message)) => {
                        let Some(api::group_message::Version::V1(v1)) = message.version else { continue };
                        let mut state = self.inner.state.lock().await;
                        if state.groups.contains_key(v1.group_id.as_ref()) {
                            self.sync_group_locked(&mut state, &v1.group_id).await?;
                        }
                        drop(state);
                        self.act_on_leave_requests().await?;
                    }
                    Some(Err(status)) => return Err(status.into()),
                    None => return Err(ClientError::Transport("group stream ended".into())),
                },
            }
        }
    }
}

/// The running stream task; stop it with [`StreamHandle::stop`] (dropping it also stops it).
#[derive(Debug)]
pub struct StreamHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl StreamHandle {
    /// Stops the task and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = (&mut { self }.task).await;
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use openmls::prelude::tls_codec::Serialize as _;

    use super::*;
    use crate::{ClientOptions, GroupOptions, KeyStore, MemoryKeyStore, Network};

    async fn client(url: &str, dir: &std::path::Path, name: &str) -> Client {
        let keys: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::default());
        let options =
            ClientOptions::new(Network::Url(url.to_owned()), dir.join(format!("{name}.db")), keys);
        Client::open(options).await.unwrap()
    }

    /// A d14n client with no conversation yet has no group topic to follow: its group stream
    /// waits (a welcome starts a new round) instead of failing and reconnecting.
    #[tokio::test]
    async fn with_no_conversation_a_gateway_clients_group_stream_waits() {
        let dir = tempfile::tempdir().unwrap();
        let node = xmtp_node::start(xmtp_node::NodeConfig::local(dir.path().join("node.db")))
            .await
            .unwrap();
        let keys: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::default());
        let network = Network::Gateway(node.url().to_owned());
        let options = ClientOptions::new(network, dir.path().join("alice.db"), keys);
        let alice = Client::open(options).await.unwrap();
        let mut groups =
            alice.inner.api.mls.subscribe_group_messages(vec![]).await.unwrap().into_inner();
        let next = tokio::time::timeout(Duration::from_millis(300), groups.next()).await;
        assert!(next.is_err(), "nothing, and no error: {next:?}");
        node.shutdown().await.unwrap();
    }

    /// A message encrypted in epoch n and delivered after the commit to epoch n+1 (its sender
    /// had not seen the commit yet) still decrypts.
    #[tokio::test]
    async fn messages_from_a_past_epoch_decrypt() {
        let dir = tempfile::tempdir().unwrap();
        let node = xmtp_node::start(xmtp_node::NodeConfig::local(dir.path().join("node.db")))
            .await
            .unwrap();
        let alice = client(node.url(), dir.path(), "alice").await;
        let bob = client(node.url(), dir.path(), "bob").await;
        let carol = client(node.url(), dir.path(), "carol").await;
        let group =
            alice.create_group(&[bob.inbox_id().to_owned()], &GroupOptions::default()).await;
        let group = group.unwrap();
        bob.sync_welcomes().await.unwrap();

        // Bob encrypts in the current epoch but does not publish yet.
        let late = {
            let mut state = bob.inner.state.lock().await;
            let State { provider, groups, .. } = &mut *state;
            let payload = content::seal_envelope(&content::text("late").encode_to_vec(), "1");
            let out = groups
                .get_mut(&group.0)
                .unwrap()
                .create_message(provider, &bob.signer(), &payload)
                .unwrap();
            state.provider.take_changes();
            out.tls_serialize_detached().unwrap()
        };
        let epoch_before = alice.inner.state.lock().await.groups[&group.0].epoch();
        alice.add_members(&group, &[carol.inbox_id().to_owned()]).await.unwrap();
        assert!(alice.inner.state.lock().await.groups[&group.0].epoch() > epoch_before);

        bob.inner
            .api
            .mls
            .clone()
            .send_group_messages(api::SendGroupMessagesRequest {
                messages: vec![api::GroupMessageInput {
                    version: Some(api::group_message_input::Version::V1(
                        api::group_message_input::V1 {
                            data: late.into(),
                            sender_hmac: Default::default(),
                            should_push: true,
                        },
                    )),
                }],
            })
            .await
            .unwrap();
        alice.sync_all().await.unwrap();
        let texts: Vec<String> = alice
            .messages(&group, 0, 100)
            .await
            .unwrap()
            .iter()
            .filter_map(crate::Message::text)
            .collect();
        assert_eq!(texts, ["late"]);
        node.shutdown().await.unwrap();
    }
}
