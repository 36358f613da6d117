//! Conversations (DMs and groups) and their messages: creating them, changing membership,
//! sending, listing. Receiving lives in `sync`.

use std::collections::BTreeMap;
use std::fmt;

use openmls::prelude::{
    CredentialWithKey, GroupId, KeyPackage, LeafNodeIndex, MlsGroup, MlsMessageOut, Welcome,
};
use prost::Message as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tls_codec::Serialize as _;
use xmtp_proto::mls_api as api;

use crate::client::{Client, State};
use crate::content::{self, ContentType, EncodedContent};
use crate::error::{ClientError, Result};
use crate::mls::extensions::{self, GroupExtensions, Kind};
use crate::mls::{self, key_package, welcome};
use crate::store::{ConversationRow, MessageRow, Write};

/// A conversation's id (the MLS group id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConversationId(pub Vec<u8>);

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl std::str::FromStr for ConversationId {
    type Err = ClientError;
    fn from_str(s: &str) -> Result<Self> {
        hex::decode(s)
            .map(Self)
            .map_err(|_| ClientError::InvalidInput(format!("conversation id {s:?} is not hex")))
    }
}

/// A DM or a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationKind {
    /// A DM with `peer` (an inbox id).
    Dm {
        /// The other inbox.
        peer: String,
    },
    /// A group.
    Group,
}

/// A conversation as this installation sees it.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// Its id.
    pub id: ConversationId,
    /// DM or group.
    pub kind: ConversationKind,
    /// Group name (empty for DMs).
    pub name: String,
    /// Group description.
    pub description: String,
    /// Member inbox ids.
    pub members: Vec<String>,
    /// Super admins (group creator by default).
    pub super_admins: Vec<String>,
    /// When this installation created or joined it.
    pub created_ns: u64,
    /// Whether this installation is still a member.
    pub active: bool,
    /// We asked to leave (a leave request was sent) and wait for an admin to remove us.
    pub leaving: bool,
}

/// A message in a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// libxmtp-compatible id.
    pub id: [u8; 32],
    /// The conversation.
    pub conversation: ConversationId,
    /// The sender's inbox.
    pub sender_inbox_id: String,
    /// The sender's installation key.
    pub sender_installation: Vec<u8>,
    /// Send time: the node's timestamp for received messages, ours for sent ones.
    pub sent_ns: u64,
    /// The content type.
    pub content_type: ContentType,
    /// The content.
    pub content: EncodedContent,
}

impl Message {
    /// The text, for `xmtp.org/text` messages.
    pub fn text(&self) -> Option<String> {
        content::as_text(&self.content)
    }

    pub(crate) fn from_row(row: MessageRow) -> Result<Self> {
        let content = EncodedContent::decode(row.content.as_slice())
            .map_err(|e| ClientError::malformed("stored message", e))?;
        Ok(Self {
            id: row
                .id
                .as_slice()
                .try_into()
                .map_err(|_| ClientError::malformed("stored message", "id"))?,
            conversation: ConversationId(row.conversation_id),
            sender_inbox_id: row.sender_inbox,
            sender_installation: row.sender_installation,
            sent_ns: u64::try_from(row.sent_ns).unwrap_or(0),
            content_type: row.content_type.parse()?,
            content,
        })
    }
}

/// What the client reports as it happens.
#[derive(Debug, Clone)]
pub enum Event {
    /// A message arrived (or was sent by this installation).
    Message(Message),
    /// This installation joined a conversation, or its membership changed.
    Conversation(Conversation),
}

/// Options for a new group.
#[derive(Debug, Clone, Default)]
pub struct GroupOptions {
    /// Name shown to members.
    pub name: String,
    /// Description shown to members.
    pub description: String,
}

/// Options for one send.
#[derive(Debug, Clone, Copy)]
pub struct SendOptions {
    /// Whether push notifications should fire (false for machine traffic).
    pub should_push: bool,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self { should_push: true }
    }
}

pub(crate) fn describe(group: &MlsGroup, row: &ConversationRow) -> Result<Conversation> {
    let ext = GroupExtensions::decode(group.extensions())?;
    let kind = match &row.dm_peer {
        Some(peer) => ConversationKind::Dm { peer: peer.clone() },
        None => ConversationKind::Group,
    };
    Ok(Conversation {
        id: ConversationId(row.id.clone()),
        kind,
        name: ext.attributes.get(extensions::GROUP_NAME).cloned().unwrap_or_default(),
        description: ext.attributes.get(extensions::DESCRIPTION).cloned().unwrap_or_default(),
        members: ext.membership.keys().cloned().collect(),
        super_admins: ext.super_admins,
        created_ns: u64::try_from(row.created_ns).unwrap_or(0),
        active: row.active && group.is_active(),
        leaving: row.leaving,
    })
}

/// A conversation as stored, described from its loaded group when we are still in it.
fn summarize(state: &State, row: &ConversationRow) -> Result<Conversation> {
    match state.groups.get(&row.id) {
        Some(group) => describe(group, row),
        None => Ok(Conversation {
            id: ConversationId(row.id.clone()),
            kind: match row.dm_peer.clone() {
                Some(peer) => ConversationKind::Dm { peer },
                None => ConversationKind::Group,
            },
            name: String::new(),
            description: String::new(),
            members: Vec::new(),
            super_admins: Vec::new(),
            created_ns: u64::try_from(row.created_ns).unwrap_or(0),
            active: false,
            leaving: row.leaving,
        }),
    }
}

impl Client {
    /// Every conversation this installation is or was in, oldest first.
    pub async fn conversations(&self) -> Result<Vec<Conversation>> {
        let rows = self.inner.store.conversations().await?;
        let state = self.inner.state.lock().await;
        rows.iter().map(|row| summarize(&state, row)).collect()
    }

    /// One conversation.
    pub async fn conversation(&self, id: &ConversationId) -> Result<Conversation> {
        let row = self
            .inner
            .store
            .conversation(&id.0)
            .await?
            .ok_or_else(|| ClientError::NotFound(format!("conversation {id}")))?;
        let state = self.inner.state.lock().await;
        summarize(&state, &row)
    }

    /// Messages of a conversation sent after `after_ns`, oldest first, at most `limit`.
    pub async fn messages(
        &self,
        id: &ConversationId,
        after_ns: u64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let after = i64::try_from(after_ns).unwrap_or(i64::MAX);
        let rows = self.inner.store.messages(&id.0, after, i64::from(limit)).await?;
        rows.into_iter().map(Message::from_row).collect()
    }

    /// The newest `limit` messages of a conversation, oldest first: the tail a chat view shows,
    /// read without scanning the conversation from its start.
    pub async fn latest_messages(&self, id: &ConversationId, limit: u32) -> Result<Vec<Message>> {
        let rows = self.inner.store.latest_messages(&id.0, i64::from(limit)).await?;
        rows.into_iter().map(Message::from_row).collect()
    }

    /// The DM with `peer` (an inbox id): the existing one, or a new one.
    pub async fn dm(&self, peer: &str) -> Result<ConversationId> {
        if peer == self.inner.inbox_id {
            return Err(ClientError::InvalidInput("cannot open a DM with yourself".into()));
        }
        let existing = self
            .inner
            .store
            .conversations()
            .await?
            .into_iter()
            .find(|c| c.active && c.dm_peer.as_deref() == Some(peer));
        if let Some(row) = existing {
            return Ok(ConversationId(row.id));
        }
        self.create(Some(peer), &[peer.to_owned()], &GroupOptions::default()).await
    }

    /// A new group with `members` (inbox ids; this inbox is always a member and super admin).
    pub async fn create_group(
        &self,
        members: &[String],
        options: &GroupOptions,
    ) -> Result<ConversationId> {
        self.create(None, members, options).await
    }

    async fn create(
        &self,
        dm_peer: Option<&str>,
        members: &[String],
        options: &GroupOptions,
    ) -> Result<ConversationId> {
        let me = self.inner.inbox_id.clone();
        let mut state = self.inner.state.lock().await;
        state.logs.refresh(&self.inner.api, &[&me]).await?;
        let own_seq = state.logs.latest_sequence_id(&me);
        let mut commit_log_signer = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut commit_log_signer);
        let mut group_id = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut group_id);
        let exts = extensions::new_group(
            &me,
            dm_peer,
            &options.name,
            &options.description,
            commit_log_signer,
            &BTreeMap::from([(me.clone(), own_seq)]),
        )?;
        let credential = CredentialWithKey {
            credential: mls::credential(&me),
            signature_key: self.inner.installation_key.to_vec().into(),
        };
        let state_ref = &mut *state;
        let group = MlsGroup::new_with_group_id(
            &state_ref.provider,
            &self.signer(),
            &mls::create_config(exts),
            GroupId::from_slice(&group_id),
            credential,
        )
        .map_err(ClientError::mls)?;
        state_ref.groups.insert(group_id.clone(), group);
        let row = ConversationRow {
            id: group_id.clone(),
            kind: if dm_peer.is_some() { "dm" } else { "group" }.to_owned(),
            dm_peer: dm_peer.map(str::to_owned),
            created_ns: self.now_ns() as i64,
            active: true,
            leaving: false,
        };
        let write = Write {
            mls: state_ref.provider.take_changes(),
            new_conversations: vec![row.clone()],
            ..Write::default()
        };
        self.save(state_ref, write).await?;
        let mut wanted: Vec<String> = members.iter().filter(|m| **m != me).cloned().collect();
        wanted.sort();
        wanted.dedup();
        let result = self.change_members(&mut state, &group_id, &wanted, &[]).await;
        if let Err(e) = result {
            // The group never reached anyone: forget it.
            state.groups.remove(&group_id);
            self.inner
                .store
                .write(Write { deactivate: vec![group_id.clone()], ..Write::default() })
                .await?;
            return Err(e);
        }
        let conversation = describe(&state.groups[&group_id], &row)?;
        drop(state);
        let _ = self.inner.events.send(crate::conversation::Event::Conversation(conversation));
        // A running stream subscribes to the new conversation too.
        self.inner.created.notify_one();
        Ok(ConversationId(group_id))
    }

    /// Adds `inboxes` (all their installations) to a group.
    pub async fn add_members(&self, id: &ConversationId, inboxes: &[String]) -> Result<()> {
        let mut state = self.inner.state.lock().await;
        self.change_members(&mut state, &id.0, inboxes, &[]).await
    }

    /// Removes `inboxes` (all their installations) from a group.
    pub async fn remove_members(&self, id: &ConversationId, inboxes: &[String]) -> Result<()> {
        let mut state = self.inner.state.lock().await;
        self.change_members(&mut state, &id.0, &[], inboxes).await
    }

    /// Asks to leave a group. MLS does not let a member commit its own removal, so this sends a
    /// leave request (`xmtp.org/leave_request:1.0`, XIP-75, as libxmtp does) and marks the
    /// conversation `leaving`; a member allowed to remove others commits the removal, after
    /// which the conversation turns inactive here. DMs cannot be left, and the only super admin
    /// of a group with other members cannot leave (nobody else could act on the request).
    pub async fn leave(&self, id: &ConversationId) -> Result<()> {
        {
            let state = self.inner.state.lock().await;
            let group = state
                .groups
                .get(&id.0)
                .ok_or_else(|| ClientError::NotFound(format!("conversation {id}")))?;
            if !group.is_active() {
                return Err(ClientError::Inactive(id.to_string()));
            }
            let ext = GroupExtensions::decode(group.extensions())?;
            let me = self.inner.inbox_id.as_str();
            if let Kind::Dm(..) = ext.kind {
                return Err(ClientError::NotPermitted("a DM cannot be left".into()));
            }
            if ext.super_admins == [me] && ext.membership.len() > 1 {
                return Err(ClientError::NotPermitted(
                    "you are this group's only super admin, so nobody could remove you".into(),
                ));
            }
        }
        self.send(id, &content::leave_request(), SendOptions::default()).await?;
        self.inner.store.write(Write { leaving: vec![id.0.clone()], ..Write::default() }).await?;
        let conversation = self.conversation(id).await?;
        let _ = self.inner.events.send(Event::Conversation(conversation));
        Ok(())
    }

    /// Commits the removal of members who asked to leave, in the groups where we may remove
    /// members. Requests stay pending where we may not (an admin acts on them); requests of
    /// members already gone are dropped.
    pub(crate) async fn remove_leavers(&self) -> Result<()> {
        let mut by_group: BTreeMap<Vec<u8>, Vec<String>> = BTreeMap::new();
        for (group, inbox) in self.inner.store.pending_removals().await? {
            by_group.entry(group).or_default().push(inbox);
        }
        for (group_id, inboxes) in by_group {
            let mut state = self.inner.state.lock().await;
            let mut done = Vec::new();
            let mut leavers = Vec::new();
            match state.groups.get(&group_id).filter(|g| g.is_active()) {
                None => done.clone_from(&inboxes),
                Some(group) => {
                    let ext = GroupExtensions::decode(group.extensions())?;
                    let policy =
                        ext.policies.as_ref().and_then(|p| p.remove_member_policy.as_ref());
                    for inbox in inboxes {
                        if !ext.membership.contains_key(&inbox) {
                            done.push(inbox);
                        } else if extensions::membership_allowed(policy, &ext, &self.inner.inbox_id)
                        {
                            leavers.push(inbox);
                        }
                    }
                }
            }
            if !leavers.is_empty() {
                match self.change_members(&mut state, &group_id, &[], &leavers).await {
                    Ok(()) => done.append(&mut leavers),
                    Err(e) => tracing::warn!(
                        group = %hex::encode(&group_id),
                        code = e.code(),
                        "could not remove members who asked to leave: {e}"
                    ),
                }
            }
            drop(state);
            if !done.is_empty() {
                let removals_done = done.into_iter().map(|i| (group_id.clone(), i)).collect();
                self.inner.store.write(Write { removals_done, ..Write::default() }).await?;
            }
        }
        Ok(())
    }

    /// One commit that updates the membership extension and adds/removes the installations of
    /// `add`/`remove`, retried if another member commits first.
    async fn change_members(
        &self,
        state: &mut State,
        group_id: &[u8],
        add: &[String],
        remove: &[String],
    ) -> Result<()> {
        const ATTEMPTS: u32 = 3;
        for _ in 0..ATTEMPTS {
            self.sync_group_locked(state, group_id).await?;
            let group = state.groups.get(group_id).ok_or_else(|| {
                ClientError::NotFound(format!("conversation {}", hex::encode(group_id)))
            })?;
            if !group.is_active() {
                return Err(ClientError::Inactive(hex::encode(group_id)));
            }
            let ext = GroupExtensions::decode(group.extensions())?;
            let me = self.inner.inbox_id.as_str();
            if let Kind::Dm(..) = ext.kind {
                // Only the creation commit (creator alone → both inboxes) changes a DM's members.
                if ext.membership.len() > 1 {
                    return Err(ClientError::NotPermitted("a DM's members cannot change".into()));
                }
            } else {
                let policies = ext.policies.as_ref();
                if !add.is_empty()
                    && !extensions::membership_allowed(
                        policies.and_then(|p| p.add_member_policy.as_ref()),
                        &ext,
                        me,
                    )
                {
                    return Err(ClientError::NotPermitted(
                        "this group does not let you add members".into(),
                    ));
                }
                if !remove.is_empty()
                    && !extensions::membership_allowed(
                        policies.and_then(|p| p.remove_member_policy.as_ref()),
                        &ext,
                        me,
                    )
                {
                    return Err(ClientError::NotPermitted(
                        "only admins can remove members of this group".into(),
                    ));
                }
            }
            // Membership after the change, at every inbox's latest verified sequence id.
            let mut inboxes: Vec<String> = ext.membership.keys().cloned().collect();
            inboxes.extend(add.iter().cloned());
            inboxes.retain(|i| !remove.contains(i));
            inboxes.sort();
            inboxes.dedup();
            let refs: Vec<&str> = inboxes.iter().map(String::as_str).collect();
            state.logs.refresh(&self.inner.api, &refs).await?;
            let mut membership = BTreeMap::new();
            for inbox in &inboxes {
                if state.logs.latest(inbox).is_none() {
                    return Err(ClientError::NotFound(format!(
                        "inbox {inbox} (not registered on this network)"
                    )));
                }
                membership.insert(inbox.clone(), state.logs.latest_sequence_id(inbox));
            }
            // Installations that should be in the tree but are not: every current installation
            // of every member inbox. Leaves whose inbox left, or whose installation was revoked,
            // go.
            let group = &state.groups[group_id];
            let mut present: BTreeMap<Vec<u8>, (LeafNodeIndex, String)> = BTreeMap::new();
            for member in group.members() {
                let inbox = mls::credential_inbox_id(&member.credential)?;
                present.insert(member.signature_key.clone(), (member.index, inbox));
            }
            let mut wanted_installations: Vec<(String, Vec<u8>)> = Vec::new();
            for inbox in &inboxes {
                if let Some(s) = state.logs.latest(inbox) {
                    for key in s.installation_keys() {
                        if !present.contains_key(key) && key != self.inner.installation_key {
                            wanted_installations.push((inbox.clone(), key.to_vec()));
                        }
                    }
                }
            }
            let removals: Vec<LeafNodeIndex> = present
                .iter()
                .filter(|(key, (_, inbox))| {
                    !membership.contains_key(inbox)
                        || !state
                            .logs
                            .latest(inbox)
                            .is_some_and(|s| s.installation_keys().any(|k| k == key.as_slice()))
                })
                .map(|(_, (index, _))| *index)
                .collect();
            let key_packages = self.fetch_key_packages(state, &wanted_installations).await?;
            for inbox in add {
                if *inbox != self.inner.inbox_id
                    && !key_packages.iter().any(|(i, _)| i == inbox)
                    && !present.values().any(|(_, i)| i == inbox)
                {
                    return Err(ClientError::NotFound(format!(
                        "a key package for any installation of inbox {inbox}"
                    )));
                }
            }
            let unchanged =
                membership == ext.membership && key_packages.is_empty() && removals.is_empty();
            if unchanged {
                return Ok(());
            }
            let mut context = group.extensions().clone();
            context
                .add_or_replace(extensions::membership(&membership))
                .map_err(ClientError::mls)?;
            let State { provider, groups, .. } = &mut *state;
            let group =
                groups.get_mut(group_id).ok_or_else(|| ClientError::NotFound("group".into()))?;
            let bundle = group
                .commit_builder()
                .propose_group_context_extensions(context)
                .map_err(ClientError::mls)?
                .propose_adds(key_packages.iter().map(|(_, kp)| kp.clone()))
                .propose_removals(removals)
                .load_psks(openmls_traits::OpenMlsProvider::storage(provider))
                .map_err(ClientError::mls)?
                .build(
                    openmls_traits::OpenMlsProvider::rand(provider),
                    openmls_traits::OpenMlsProvider::crypto(provider),
                    &self.signer(),
                    |_| true,
                )
                .map_err(ClientError::mls)?
                .stage_commit(provider)
                .map_err(ClientError::mls)?;
            let (commit, welcome, _) = bundle.into_contents();
            match self.publish_commit(state, group_id, &commit).await? {
                Some(commit_id) => {
                    if let Some(welcome) = welcome {
                        self.send_welcomes(&welcome, &key_packages, commit_id).await?;
                    }
                    return Ok(());
                }
                None => continue, // lost a race: re-sync and rebuild
            }
        }
        Err(ClientError::Conflict(ATTEMPTS))
    }

    /// Fetches and verifies key packages for `(inbox, installation)` pairs; missing ones are
    /// skipped (libxmtp records them as failed installations).
    async fn fetch_key_packages(
        &self,
        state: &State,
        installations: &[(String, Vec<u8>)],
    ) -> Result<Vec<(String, KeyPackage)>> {
        if installations.is_empty() {
            return Ok(Vec::new());
        }
        let response = self
            .inner
            .api
            .mls
            .clone()
            .fetch_key_packages(api::FetchKeyPackagesRequest {
                installation_keys: installations.iter().map(|(_, k)| k.clone().into()).collect(),
            })
            .await?
            .into_inner();
        let mut out = Vec::new();
        for ((inbox, key), kp) in installations.iter().zip(response.key_packages) {
            if kp.key_package_tls_serialized.is_empty() {
                tracing::warn!(inbox, installation = %hex::encode(key), "no key package; skipping installation");
                continue;
            }
            let verified =
                key_package::verify(&state.provider, &kp.key_package_tls_serialized, inbox, key)?;
            out.push((inbox.clone(), verified));
        }
        Ok(out)
    }

    /// Publishes our staged commit, then reads the group back: `Some(envelope id)` when our
    /// commit was merged, `None` when another commit won the epoch (ours is discarded).
    async fn publish_commit(
        &self,
        state: &mut State,
        group_id: &[u8],
        commit: &MlsMessageOut,
    ) -> Result<Option<u64>> {
        let data = commit.tls_serialize_detached().map_err(ClientError::mls)?;
        let hash: [u8; 32] = Sha256::digest(&data).into();
        self.inner
            .store
            .write(Write { sent: vec![(hash, group_id.to_vec(), None)], ..Write::default() })
            .await?;
        state.sent.insert(hash, None);
        let sent = self
            .inner
            .api
            .mls
            .clone()
            .send_group_messages(api::SendGroupMessagesRequest {
                messages: vec![api::GroupMessageInput {
                    version: Some(api::group_message_input::Version::V1(
                        api::group_message_input::V1 {
                            data: data.into(),
                            sender_hmac: Default::default(),
                            should_push: false,
                        },
                    )),
                }],
            })
            .await;
        if let Err(status) = sent {
            state.sent.remove(&hash);
            if let Some(group) = state.groups.get_mut(group_id) {
                let _ = group.clear_pending_commit(openmls_traits::OpenMlsProvider::storage(
                    &state.provider,
                ));
            }
            state.provider.take_changes();
            return Err(status.into());
        }
        let outcome = self.sync_group_locked_with(state, group_id, Some(hash)).await?;
        Ok(outcome)
    }

    async fn send_welcomes(
        &self,
        welcome: &Welcome,
        key_packages: &[(String, KeyPackage)],
        commit_id: u64,
    ) -> Result<()> {
        let message =
            MlsMessageOut::from_welcome(welcome.clone(), openmls::prelude::ProtocolVersion::Mls10);
        let bytes = message.tls_serialize_detached().map_err(ClientError::mls)?;
        let mut inputs = Vec::new();
        for (_, kp) in key_packages {
            let init_key = kp.hpke_init_key().as_slice();
            let (data, metadata) = welcome::wrap(init_key, &bytes, commit_id)?;
            inputs.push(api::WelcomeMessageInput {
                version: Some(api::welcome_message_input::Version::V1(
                    api::welcome_message_input::V1 {
                        installation_key: kp.leaf_node().signature_key().as_slice().to_vec().into(),
                        data: data.into(),
                        hpke_public_key: init_key.to_vec().into(),
                        wrapper_algorithm: welcome::CURVE25519,
                        welcome_metadata: metadata.into(),
                    },
                )),
            });
        }
        self.inner
            .api
            .mls
            .clone()
            .send_welcome_messages(api::SendWelcomeMessagesRequest { messages: inputs })
            .await?;
        Ok(())
    }

    /// Sends `content`; returns the message id.
    pub async fn send(
        &self,
        id: &ConversationId,
        content: &EncodedContent,
        options: SendOptions,
    ) -> Result<[u8; 32]> {
        let content_type = content
            .r#type
            .as_ref()
            .map(ContentType::from_proto)
            .ok_or_else(|| ClientError::InvalidInput("content has no type".into()))?;
        let encoded = content.encode_to_vec();
        if encoded.len() > crate::network::MAX_MESSAGE_BYTES / 2 {
            return Err(ClientError::InvalidInput(format!(
                "message of {} bytes is too large",
                encoded.len()
            )));
        }
        // Sync first so the message goes out in the current epoch; sends queued behind a sync
        // that started after they were asked share it (concurrent sends cost one round trip).
        let asked = std::time::Instant::now();
        let mut state = self.inner.state.lock().await;
        if state.synced.get(&id.0).is_none_or(|synced| *synced < asked) {
            self.sync_group_locked(&mut state, &id.0).await?;
        }
        let now = self.now_ns();
        let key = now.to_string();
        let message_id = content::message_id(&id.0, &key, &encoded);
        let payload = content::seal_envelope(&encoded, &key);
        let State { provider, groups, .. } = &mut *state;
        let group = groups
            .get_mut(&id.0)
            .ok_or_else(|| ClientError::NotFound(format!("conversation {id}")))?;
        if !group.is_active() {
            return Err(ClientError::Inactive(id.to_string()));
        }
        let out =
            group.create_message(provider, &self.signer(), &payload).map_err(ClientError::mls)?;
        let data = out.tls_serialize_detached().map_err(ClientError::mls)?;
        let hash: [u8; 32] = Sha256::digest(&data).into();
        let row = MessageRow {
            id: message_id.to_vec(),
            conversation_id: id.0.clone(),
            sender_inbox: self.inner.inbox_id.clone(),
            sender_installation: self.inner.installation_key.to_vec(),
            sent_ns: now as i64,
            envelope_id: None,
            content_type: content_type.to_string(),
            content: encoded,
        };
        // Ratchet state first: a crash after publishing must never reuse a generation.
        let write = Write {
            mls: provider.take_changes(),
            messages: vec![row.clone()],
            sent: vec![(hash, id.0.clone(), Some(message_id.to_vec()))],
            ..Write::default()
        };
        self.save(&mut state, write).await?;
        state.sent.insert(hash, Some(message_id.to_vec()));
        drop(state);
        let sent = self
            .inner
            .api
            .mls
            .clone()
            .send_group_messages(api::SendGroupMessagesRequest {
                messages: vec![api::GroupMessageInput {
                    version: Some(api::group_message_input::Version::V1(
                        api::group_message_input::V1 {
                            data: data.into(),
                            sender_hmac: Default::default(),
                            should_push: options.should_push,
                        },
                    )),
                }],
            })
            .await;
        if let Err(status) = sent {
            if answered_without_storing(&status) {
                self.inner.state.lock().await.sent.remove(&hash);
                self.inner.store.write(Write { dropped: vec![hash], ..Write::default() }).await?;
            } else {
                // No answer: the node may have stored it and peers may have it. Keep it until a
                // sync reads it back or shows, long enough after, that the node never stored it.
                let at = self.now_ns();
                self.inner.store.mark_send_failed(&hash, at).await?;
                self.inner.state.lock().await.failed.insert(hash, (id.0.clone(), at));
            }
            return Err(status.into());
        }
        let _ = self.inner.events.send(Event::Message(Message::from_row(row)?));
        Ok(message_id)
    }

    /// Sends UTF-8 text.
    pub async fn send_text(&self, id: &ConversationId, text: &str) -> Result<[u8; 32]> {
        self.send(id, &content::text(text), SendOptions::default()).await
    }
}

/// Whether a failed publish was the node's own refusal (nothing stored), as opposed to no answer
/// at all (a cut connection, a timeout), after which the node may hold the message.
fn answered_without_storing(status: &tonic::Status) -> bool {
    use tonic::Code;
    !matches!(
        status.code(),
        Code::Unavailable
            | Code::Unknown
            | Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Internal
    )
}
