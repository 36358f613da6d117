//! The decentralized network's API (d14n), served over the same storage as V3.
//!
//! One server plays both d14n roles libxmtp 1.10 talks to: the gateway (`PayerApi`: publish,
//! node list) and a node (`ReplicationApi`: query, subscribe, newest, inbox ids; the gRPC health
//! check). V3 and d14n clients see the same messages: every stored row is also an originator
//! envelope, filed under libxmtp's originator ids (commits 0, identity updates 1, application
//! messages 10, welcomes 11, key packages 13) with its V3 sequence id, so a client moving from V3
//! to d14n keeps its cursors. Envelopes are signed with the node's secp256k1 key
//! (`keccak256("originator|" ‖ unsigned envelope)`, as xmtpd signs), once
//! each while the signature is remembered (`Signatures`): a message streamed to many
//! subscribers costs one signature.
//!
//! Publishing goes through the V3 validation and quotas (`MlsService`, `IdentityService`) and is
//! checked against the envelope's target topic first. The node orders each topic itself (one
//! writer, timestamps strictly increasing with ids), so it keeps no client `depends_on`:
//! envelopes read back have none, and a client's timestamp sort already puts them in causal
//! order. `D14nMigrationApi/FetchD14nCutover` announces `NodeConfig::d14n_cutover_ns`.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use xmtp_identity::WalletKey;
use xmtp_proto::associations::{IdentityUpdate, RecoverableEcdsaSignature};
use xmtp_proto::d14n::{self, Topic, TopicKind};
use xmtp_proto::d14n_envelopes::{
    AuthenticatedData, ClientEnvelope, Cursor, OriginatorEnvelope, PayerEnvelope,
    UnsignedOriginatorEnvelope, client_envelope::Payload, originator_envelope::Proof,
};
use xmtp_proto::d14n_payer::{self as payer, payer_api_server::PayerApi};
use xmtp_proto::d14n_replication::{self as replication, replication_api_server::ReplicationApi};
use xmtp_proto::grpc_health::{
    HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
    health_server::Health,
};
use xmtp_proto::identity_api::{self, identity_api_server::IdentityApi};
use xmtp_proto::migration_api::{FetchD14nCutoverResponse, d14n_migration_api_server};
use xmtp_proto::mls_api::{
    self as mls, GroupMessage, WelcomeMessage, group_message, group_message_input, welcome_message,
    welcome_message_input,
};

use crate::Shared;
use crate::error::storage_status;
use crate::identity::IdentityService;
use crate::mls::MlsService;
use crate::store::Page;
use crate::validate;

/// Most envelopes in one query answer (xmtpd's cap; 0 asks for this many).
const MAX_QUERY: u32 = 1_000;
/// Envelopes per message of a subscription's catch-up.
const STREAM_BATCH: u32 = 100;
/// Buffer between a subscription task and the client.
const STREAM_BUFFER: usize = 64;

/// The d14n services; cheap to clone.
#[derive(Clone)]
pub(crate) struct D14nService {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Shared,
    mls: MlsService,
    identity: IdentityService,
    key: WalletKey,
    signatures: Mutex<Signatures>,
    numbering: Numbering,
    url: String,
}

/// Signatures already made, by the digest they sign, so that an envelope served again (to each
/// subscriber of its topic, to each client reading its page) is signed once: an ECDSA
/// signature costs about 60 µs, a lookup well under one. The signatures are deterministic
/// (RFC 6979), so a remembered one is the one signing again would make. Two generations of at
/// most [`SIGNATURES_KEPT`] each: when the newer fills up, the older is dropped.
#[derive(Default)]
struct Signatures {
    newer: HashMap<[u8; 32], [u8; 65]>,
    older: HashMap<[u8; 32], [u8; 65]>,
}

/// Signatures in one generation of [`Signatures`] (about 100 bytes each).
const SIGNATURES_KEPT: usize = 16_384;

impl Signatures {
    fn get(&mut self, digest: &[u8; 32]) -> Option<[u8; 65]> {
        if let Some(signature) = self.newer.get(digest) {
            return Some(*signature);
        }
        let signature = self.older.remove(digest)?;
        self.insert(*digest, signature);
        Some(signature)
    }

    fn insert(&mut self, digest: [u8; 32], signature: [u8; 65]) {
        if self.newer.len() >= SIGNATURES_KEPT {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(digest, signature);
    }
}

/// How stored items are numbered as envelopes (see `NodeConfig::d14n_own_sequences`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Numbering {
    /// This node's id on the network.
    pub(crate) node_id: u32,
    /// From when application messages and welcomes are this node's own, numbered by time.
    pub(crate) own_from_ns: Option<u64>,
}

impl Numbering {
    /// An item's originator and sequence id: V3's (`v3_originator`, its row id), or this
    /// node's own numbering for one stored from `own_from_ns` on.
    fn file(&self, v3_originator: u32, row: u64, created_ns: u64) -> (u32, u64) {
        match self.own_from_ns {
            Some(from) if created_ns >= from => (self.node_id, created_ns - from + 1),
            _ => (v3_originator, row),
        }
    }

    /// For reads after `marks`: (when own numbering starts, the first creation time not yet
    /// read under it), or `None` without own numbering.
    fn own_after(&self, marks: &Marks) -> Option<(u64, u64)> {
        let from = self.own_from_ns?;
        let mark = marks.get(&self.node_id).copied().unwrap_or(0);
        Some((from, from.saturating_add(mark)))
    }
}

/// A stored item as an envelope: where it sorts, and what the client sent.
struct Found {
    /// Sorts tables apart (their sequences are separate).
    table: u8,
    /// The item's id in its table (ordered as stored).
    row: u64,
    originator: u32,
    sequence_id: u64,
    created_ns: u64,
    envelope: ClientEnvelope,
}

/// One topic's page: what was found, and whether more may follow.
struct TopicPage {
    found: Vec<Found>,
    more: bool,
}

type Marks = HashMap<u32, u64>;

impl D14nService {
    pub(crate) fn new(shared: Shared, key: WalletKey, numbering: Numbering, url: String) -> Self {
        let mls = MlsService::new(shared.clone());
        let identity = IdentityService::new(shared.clone());
        let signatures = Mutex::default();
        Self { inner: Arc::new(Inner { shared, mls, identity, key, signatures, numbering, url }) }
    }

    fn group_found(&self, topic: &Topic, message: GroupMessage) -> Option<Found> {
        group_found(self.inner.numbering, topic, message)
    }

    fn welcome_found(&self, topic: &Topic, message: WelcomeMessage) -> Option<Found> {
        welcome_found(self.inner.numbering, topic, message)
    }

    /// Signs a stored item as an originator envelope.
    fn seal(&self, found: &Found) -> Result<OriginatorEnvelope, Status> {
        let payer = PayerEnvelope {
            unsigned_client_envelope: found.envelope.encode_to_vec(),
            payer_signature: None,
            target_originator: self.inner.numbering.node_id,
            message_retention_days: 0,
        };
        let unsigned = UnsignedOriginatorEnvelope {
            originator_node_id: found.originator,
            originator_sequence_id: found.sequence_id,
            originator_ns: i64::try_from(found.created_ns).unwrap_or(i64::MAX),
            payer_envelope_bytes: payer.encode_to_vec(),
            ..Default::default()
        }
        .encode_to_vec();
        let signature = self.sign(&unsigned)?;
        Ok(OriginatorEnvelope {
            unsigned_originator_envelope: unsigned,
            proof: Some(Proof::OriginatorSignature(RecoverableEcdsaSignature {
                bytes: signature.to_vec(),
            })),
        })
    }

    /// The node's signature of an unsigned originator envelope, made once.
    fn sign(&self, unsigned: &[u8]) -> Result<[u8; 65], Status> {
        let digest = xmtp_identity::keccak256(&d14n::originator_signing_input(unsigned));
        let signatures = || self.inner.signatures.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(signature) = signatures().get(&digest) {
            return Ok(signature);
        }
        let signature = self
            .inner
            .key
            .sign_digest(&digest)
            .map_err(|e| Status::internal(format!("signing an envelope failed: {e}")))?;
        signatures().insert(digest, signature);
        Ok(signature)
    }

    fn seal_all(&self, found: &[Found]) -> Result<Vec<OriginatorEnvelope>, Status> {
        found.iter().map(|f| self.seal(f)).collect()
    }

    /// One topic's envelopes after `marks`, ascending, at most `limit`.
    async fn read_topic(
        &self,
        topic: &Topic,
        marks: &Marks,
        limit: u32,
    ) -> Result<TopicPage, Status> {
        let after = |originator| marks.get(&originator).copied().unwrap_or(0);
        let store = &self.inner.shared.store;
        let budget = self.inner.shared.limits.page_budget();
        let storage = |e: crate::NodeError| storage_status(&e);
        match topic.kind {
            TopicKind::GroupMessages => {
                let (messages, cut) = store
                    .group_messages_after(
                        &topic.identifier,
                        after(d14n::COMMITS),
                        after(d14n::APPLICATION_MESSAGES),
                        self.inner.numbering.own_after(marks),
                        limit,
                        budget,
                    )
                    .await
                    .map_err(storage)?;
                let more = cut || messages.len() >= limit as usize;
                let found =
                    messages.into_iter().filter_map(|m| self.group_found(topic, m)).collect();
                Ok(TopicPage { found, more })
            }
            TopicKind::Welcomes => {
                let (welcomes, cut) = store
                    .welcomes_after(
                        &topic.identifier,
                        after(d14n::WELCOMES),
                        self.inner.numbering.own_after(marks),
                        limit,
                        budget,
                    )
                    .await
                    .map_err(storage)?;
                let more = cut || welcomes.len() >= limit as usize;
                let found =
                    welcomes.into_iter().filter_map(|w| self.welcome_found(topic, w)).collect();
                Ok(TopicPage { found, more })
            }
            TopicKind::IdentityUpdates => {
                let inbox = hex::encode(&topic.identifier);
                let rows = store
                    .identity_updates(&inbox, after(d14n::IDENTITY_UPDATES))
                    .await
                    .map_err(storage)?;
                let more = rows.len() > limit as usize;
                let found = rows
                    .into_iter()
                    .take(limit as usize)
                    .map(|row| {
                        identity_found(topic, row.sequence_id, row.server_timestamp_ns, row.update)
                    })
                    .collect();
                Ok(TopicPage { found, more })
            }
            TopicKind::KeyPackages => {
                let entry = store.key_package_entry(&topic.identifier).await.map_err(storage)?;
                let found = entry
                    .filter(|kp| kp.sequence_id > after(d14n::KEY_PACKAGES))
                    .map(|kp| {
                        key_package_found(topic, kp.sequence_id, kp.updated_ns, kp.key_package)
                    })
                    .into_iter()
                    .collect();
                Ok(TopicPage { found, more: false })
            }
        }
    }

    /// The envelopes of several topics after one cursor. Each originator's envelopes come as a
    /// prefix (nothing after the cursor is skipped below the last one returned), so a client
    /// can move its cursor to what it received.
    async fn query(
        &self,
        topics: &[Topic],
        marks: &Marks,
        limit: u32,
    ) -> Result<Vec<Found>, Status> {
        let mut all = Vec::new();
        // Per table, the highest id every topic is complete up to.
        let mut horizon: HashMap<u8, u64> = HashMap::new();
        for topic in topics {
            let page = self.read_topic(topic, marks, limit).await?;
            if let Some(last) = page.found.last().filter(|_| page.more) {
                let h = horizon.entry(last.table).or_insert(u64::MAX);
                *h = (*h).min(last.row);
            }
            all.extend(page.found);
        }
        all.retain(|f| horizon.get(&f.table).is_none_or(|h| f.row <= *h));
        all.sort_by_key(|f| (f.table, f.row));
        all.dedup_by_key(|f| (f.table, f.row));
        all.truncate(limit as usize);
        Ok(all)
    }

    /// Stores one published envelope; returns it as stored.
    async fn publish(&self, envelope: ClientEnvelope) -> Result<Found, Status> {
        let topic_bytes = envelope.aad.as_ref().map(|a| a.target_topic.as_slice()).unwrap_or(&[]);
        let topic = Topic::parse(topic_bytes).ok_or_else(|| {
            Status::invalid_argument("the envelope's target topic is not a topic")
        })?;
        let mismatch =
            || Status::invalid_argument("the envelope's target topic does not match its payload");
        let storage = |e: crate::NodeError| storage_status(&e);
        let store = &self.inner.shared.store;
        let lost = || Status::internal("a stored envelope could not be read back");
        let found = match envelope.payload.clone() {
            Some(Payload::GroupMessage(input)) => {
                let Some(group_message_input::Version::V1(v1)) = &input.version else {
                    return Err(Status::invalid_argument("group message: no v1 content"));
                };
                let data = v1.data.clone();
                let info = validate::group_message(&data)
                    .map_err(|e| Status::invalid_argument(format!("group message: {e}")))?;
                if topic.kind != TopicKind::GroupMessages || topic.identifier != info.group_id {
                    return Err(mismatch());
                }
                self.inner.mls.publish_group_messages(vec![input]).await?;
                let stored =
                    store.group_message_with(&info.group_id, &data).await.map_err(storage)?;
                stored.and_then(|m| self.group_found(&topic, m)).ok_or_else(lost)?
            }
            Some(Payload::WelcomeMessage(input)) => {
                let (key, data) = match &input.version {
                    Some(welcome_message_input::Version::V1(v1)) => {
                        (v1.installation_key.clone(), v1.data.clone())
                    }
                    Some(welcome_message_input::Version::WelcomePointer(p)) => {
                        (p.installation_key.clone(), p.welcome_pointer.clone())
                    }
                    None => return Err(Status::invalid_argument("welcome: no content")),
                };
                if topic.kind != TopicKind::Welcomes || topic.identifier != key {
                    return Err(mismatch());
                }
                self.inner.mls.publish_welcomes(vec![input]).await?;
                let (id, created_ns) =
                    store.welcome_with(&key, &data).await.map_err(storage)?.ok_or_else(lost)?;
                let (originator, sequence_id) =
                    self.inner.numbering.file(d14n::WELCOMES, id, created_ns);
                Found {
                    table: 1,
                    row: id,
                    originator,
                    sequence_id,
                    created_ns,
                    envelope: envelope.clone(),
                }
            }
            Some(Payload::UploadKeyPackage(request)) => {
                let bytes = request
                    .key_package
                    .as_ref()
                    .map(|k| k.key_package_tls_serialized.clone())
                    .unwrap_or_default();
                let valid = validate::key_package(&bytes)
                    .map_err(|e| Status::invalid_argument(format!("invalid key package: {e}")))?;
                if topic.kind != TopicKind::KeyPackages
                    || topic.identifier != valid.installation_key
                {
                    return Err(mismatch());
                }
                let key = self.inner.mls.publish_key_package(request).await?;
                let kp = store.key_package_entry(&key).await.map_err(storage)?.ok_or_else(lost)?;
                key_package_found(&topic, kp.sequence_id, kp.updated_ns, kp.key_package)
            }
            Some(Payload::IdentityUpdate(update)) => {
                if Topic::identity_updates(&update.inbox_id).as_ref() != Some(&topic) {
                    return Err(mismatch());
                }
                self.inner.identity.publish(update.clone()).await?;
                let (sequence_id, created_ns) = store
                    .identity_update_with(&update.inbox_id, &update)
                    .await
                    .map_err(storage)?
                    .ok_or_else(lost)?;
                identity_found(&topic, sequence_id, created_ns, update)
            }
            None => return Err(Status::invalid_argument("the envelope has no payload")),
        };
        Ok(found)
    }

    fn topics(&self, raw: &[Vec<u8>], max: usize) -> Result<Vec<Topic>, Status> {
        if raw.is_empty() {
            return Err(Status::invalid_argument("no topics: this node serves queries by topic"));
        }
        if raw.len() > max {
            return Err(Status::invalid_argument(format!(
                "too many topics: {} (at most {max})",
                raw.len()
            )));
        }
        raw.iter()
            .map(|t| {
                Topic::parse(t).ok_or_else(|| {
                    Status::invalid_argument(format!("not a topic: {}", hex::encode(t)))
                })
            })
            .collect()
    }
}

fn aad(topic: &Topic) -> Option<AuthenticatedData> {
    Some(AuthenticatedData { target_topic: topic.to_bytes(), depends_on: None })
}

fn group_found(numbering: Numbering, topic: &Topic, message: GroupMessage) -> Option<Found> {
    let Some(group_message::Version::V1(v1)) = message.version else { return None };
    // Commits are sequenced by the chain on the real network: never this node's own.
    let (originator, sequence_id) = if v1.is_commit {
        (d14n::COMMITS, v1.id)
    } else {
        numbering.file(d14n::APPLICATION_MESSAGES, v1.id, v1.created_ns)
    };
    let input = mls::GroupMessageInput {
        version: Some(group_message_input::Version::V1(group_message_input::V1 {
            data: v1.data,
            sender_hmac: v1.sender_hmac,
            should_push: v1.should_push,
        })),
    };
    Some(Found {
        table: 0,
        row: v1.id,
        originator,
        sequence_id,
        created_ns: v1.created_ns,
        envelope: ClientEnvelope { aad: aad(topic), payload: Some(Payload::GroupMessage(input)) },
    })
}

fn welcome_found(numbering: Numbering, topic: &Topic, message: WelcomeMessage) -> Option<Found> {
    let (id, created_ns, version) = match message.version? {
        welcome_message::Version::V1(v1) => (
            v1.id,
            v1.created_ns,
            welcome_message_input::Version::V1(welcome_message_input::V1 {
                installation_key: v1.installation_key,
                data: v1.data,
                hpke_public_key: v1.hpke_public_key,
                wrapper_algorithm: v1.wrapper_algorithm,
                welcome_metadata: v1.welcome_metadata,
            }),
        ),
        welcome_message::Version::WelcomePointer(p) => (
            p.id,
            p.created_ns,
            welcome_message_input::Version::WelcomePointer(welcome_message_input::WelcomePointer {
                installation_key: p.installation_key,
                welcome_pointer: p.welcome_pointer,
                hpke_public_key: p.hpke_public_key,
                wrapper_algorithm: p.wrapper_algorithm,
            }),
        ),
    };
    let input = mls::WelcomeMessageInput { version: Some(version) };
    let (originator, sequence_id) = numbering.file(d14n::WELCOMES, id, created_ns);
    Some(Found {
        table: 1,
        row: id,
        originator,
        sequence_id,
        created_ns,
        envelope: ClientEnvelope { aad: aad(topic), payload: Some(Payload::WelcomeMessage(input)) },
    })
}

fn identity_found(
    topic: &Topic,
    sequence_id: u64,
    created_ns: u64,
    update: IdentityUpdate,
) -> Found {
    Found {
        table: 2,
        row: sequence_id,
        originator: d14n::IDENTITY_UPDATES,
        sequence_id,
        created_ns,
        envelope: ClientEnvelope {
            aad: aad(topic),
            payload: Some(Payload::IdentityUpdate(update)),
        },
    }
}

fn key_package_found(
    topic: &Topic,
    sequence_id: u64,
    created_ns: u64,
    key_package: Vec<u8>,
) -> Found {
    let request = mls::UploadKeyPackageRequest {
        key_package: Some(mls::KeyPackageUpload { key_package_tls_serialized: key_package.into() }),
        is_inbox_id_credential: true,
    };
    Found {
        table: 3,
        row: sequence_id,
        originator: d14n::KEY_PACKAGES,
        sequence_id,
        created_ns,
        envelope: ClientEnvelope {
            aad: aad(topic),
            payload: Some(Payload::UploadKeyPackage(request)),
        },
    }
}

fn marks_of(cursor: Option<Cursor>) -> Marks {
    cursor.map(|c| c.node_id_to_sequence_id).unwrap_or_default()
}

#[tonic::async_trait]
impl PayerApi for D14nService {
    async fn publish_client_envelopes(
        &self,
        request: Request<payer::PublishClientEnvelopesRequest>,
    ) -> Result<Response<payer::PublishClientEnvelopesResponse>, Status> {
        let envelopes = request.into_inner().envelopes;
        let max = self.inner.shared.limits.max_items_per_request;
        if envelopes.is_empty() || envelopes.len() > max {
            return Err(Status::invalid_argument(format!(
                "publish 1 to {max} envelopes at once, not {}",
                envelopes.len()
            )));
        }
        let mut originator_envelopes = Vec::with_capacity(envelopes.len());
        for (i, envelope) in envelopes.into_iter().enumerate() {
            let found = self
                .publish(envelope)
                .await
                .map_err(|s| Status::new(s.code(), format!("envelope {i}: {}", s.message())))?;
            originator_envelopes.push(self.seal(&found)?);
        }
        Ok(Response::new(payer::PublishClientEnvelopesResponse { originator_envelopes }))
    }

    async fn get_nodes(
        &self,
        _request: Request<payer::GetNodesRequest>,
    ) -> Result<Response<payer::GetNodesResponse>, Status> {
        let nodes = HashMap::from([(self.inner.numbering.node_id, self.inner.url.clone())]);
        Ok(Response::new(payer::GetNodesResponse { nodes }))
    }
}

/// A subscription's response stream.
type Live =
    Pin<Box<dyn Stream<Item = Result<replication::SubscribeEnvelopesResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ReplicationApi for D14nService {
    type SubscribeEnvelopesStream = Live;

    async fn subscribe_envelopes(
        &self,
        request: Request<replication::SubscribeEnvelopesRequest>,
    ) -> Result<Response<Live>, Status> {
        let query = request.into_inner().query.unwrap_or_default();
        let max = self.inner.shared.limits.max_filters_per_subscription;
        let topics = self.topics(&query.topics, max)?;
        let start = marks_of(query.last_seen);
        let ids = |kind| {
            topics
                .iter()
                .filter(|t| t.kind == kind)
                .map(|t| Bytes::from(t.identifier.clone()))
                .collect()
        };
        // Registered before the catch-up reads, so nothing committed in between is missed.
        let groups = self.inner.shared.groups.subscribe(ids(TopicKind::GroupMessages));
        let welcomes = self.inner.shared.welcomes.subscribe(ids(TopicKind::Welcomes));
        let (out, stream) = mpsc::channel(STREAM_BUFFER);
        let follow = Follow {
            service: self.clone(),
            marks: topics.iter().map(|t| (t.clone(), start.clone())).collect(),
            out,
        };
        tokio::spawn(follow.run(groups, welcomes, self.inner.shared.stopping.clone()));
        Ok(Response::new(Box::pin(ReceiverStream::new(stream))))
    }

    async fn query_envelopes(
        &self,
        request: Request<replication::QueryEnvelopesRequest>,
    ) -> Result<Response<replication::QueryEnvelopesResponse>, Status> {
        let request = request.into_inner();
        let query = request.query.unwrap_or_default();
        let topics = self.topics(&query.topics, self.inner.shared.limits.max_items_per_request)?;
        let limit = if request.limit == 0 { MAX_QUERY } else { request.limit.min(MAX_QUERY) };
        let found = self.query(&topics, &marks_of(query.last_seen), limit).await?;
        let envelopes = self.seal_all(&found)?;
        Ok(Response::new(replication::QueryEnvelopesResponse { envelopes }))
    }

    async fn publish_payer_envelopes(
        &self,
        _request: Request<replication::PublishPayerEnvelopesRequest>,
    ) -> Result<Response<replication::PublishPayerEnvelopesResponse>, Status> {
        Err(Status::unimplemented("this node takes client envelopes only (PayerApi)"))
    }

    async fn get_inbox_ids(
        &self,
        request: Request<replication::GetInboxIdsRequest>,
    ) -> Result<Response<replication::GetInboxIdsResponse>, Status> {
        let requests = request
            .into_inner()
            .requests
            .into_iter()
            .map(|r| identity_api::get_inbox_ids_request::Request {
                identifier: r.identifier,
                identifier_kind: r.identifier_kind,
            })
            .collect();
        let v3 = identity_api::GetInboxIdsRequest { requests };
        let answer = self.inner.identity.get_inbox_ids(Request::new(v3)).await?.into_inner();
        let responses = answer
            .responses
            .into_iter()
            .map(|r| replication::get_inbox_ids_response::Response {
                identifier: r.identifier,
                inbox_id: r.inbox_id,
                identifier_kind: r.identifier_kind,
            })
            .collect();
        Ok(Response::new(replication::GetInboxIdsResponse { responses }))
    }

    async fn get_newest_envelope(
        &self,
        request: Request<replication::GetNewestEnvelopeRequest>,
    ) -> Result<Response<replication::GetNewestEnvelopeResponse>, Status> {
        let raw = request.into_inner().topics;
        let max = self.inner.shared.limits.max_items_per_request;
        let topics = self.topics(&raw, max)?;
        let store = &self.inner.shared.store;
        let storage = |e: crate::NodeError| storage_status(&e);
        let mut results = Vec::with_capacity(topics.len());
        for topic in &topics {
            let newest = match topic.kind {
                TopicKind::GroupMessages => {
                    let group = [Bytes::from(topic.identifier.clone())];
                    let newest =
                        store.newest_group_messages(&group, true).await.map_err(storage)?;
                    newest.into_iter().flatten().next().and_then(|m| self.group_found(topic, m))
                }
                TopicKind::Welcomes => {
                    let page = Page { ascending: false, limit: 1, cursor: 0 };
                    let budget = self.inner.shared.limits.page_budget();
                    let (welcomes, _) =
                        store.welcomes(&topic.identifier, page, budget).await.map_err(storage)?;
                    welcomes.into_iter().next().and_then(|w| self.welcome_found(topic, w))
                }
                TopicKind::IdentityUpdates => {
                    let inbox = hex::encode(&topic.identifier);
                    let rows = store.identity_updates(&inbox, 0).await.map_err(storage)?;
                    rows.into_iter().next_back().map(|row| {
                        identity_found(topic, row.sequence_id, row.server_timestamp_ns, row.update)
                    })
                }
                TopicKind::KeyPackages => {
                    store.key_package_entry(&topic.identifier).await.map_err(storage)?.map(|kp| {
                        key_package_found(topic, kp.sequence_id, kp.updated_ns, kp.key_package)
                    })
                }
            };
            let originator_envelope = newest.map(|f| self.seal(&f)).transpose()?;
            results
                .push(replication::get_newest_envelope_response::Response { originator_envelope });
        }
        Ok(Response::new(replication::GetNewestEnvelopeResponse { results }))
    }
}

/// One subscription: its topics' marks (per originator, what was sent) and where to send.
struct Follow {
    service: D14nService,
    marks: HashMap<Topic, Marks>,
    out: mpsc::Sender<Result<replication::SubscribeEnvelopesResponse, Status>>,
}

impl Follow {
    async fn run(
        mut self,
        mut groups: crate::fanout::Subscription<GroupMessage>,
        mut welcomes: crate::fanout::Subscription<WelcomeMessage>,
        mut stopping: tokio::sync::watch::Receiver<bool>,
    ) {
        // An empty message first, as xmtpd sends: the client sees the stream is open.
        if !self.send(Vec::new()).await || !self.catch_up().await {
            return;
        }
        loop {
            let found = tokio::select! {
                biased;
                _ = stopping.wait_for(|s| *s) => {
                    let _ = self.out.try_send(Err(Status::unavailable("the node is shutting down")));
                    return;
                }
                () = self.out.closed() => return,
                Some(m) = groups.rx.recv() => {
                    group_topic(&m).and_then(|t| Some((t.clone(), self.service.group_found(&t, m)?)))
                }
                Some(w) = welcomes.rx.recv() => {
                    welcome_topic(&w).and_then(|t| Some((t.clone(), self.service.welcome_found(&t, w)?)))
                }
                else => return,
            };
            if (groups.take_lagged() | welcomes.take_lagged()) && !self.catch_up().await {
                return;
            }
            if let Some((topic, found)) = found
                && self.advance(&topic, &found)
                && !self.send(vec![found]).await
            {
                return;
            }
        }
    }

    /// Moves the topic's mark past `found`; false if it was already sent.
    fn advance(&mut self, topic: &Topic, found: &Found) -> bool {
        let Some(marks) = self.marks.get_mut(topic) else { return false };
        let mark = marks.entry(found.originator).or_insert(0);
        if found.sequence_id <= *mark {
            return false;
        }
        *mark = found.sequence_id;
        true
    }

    /// Sends everything after each topic's marks. False when the stream should end.
    async fn catch_up(&mut self) -> bool {
        let topics: Vec<Topic> = self.marks.keys().cloned().collect();
        for topic in topics {
            loop {
                let marks = self.marks.get(&topic).cloned().unwrap_or_default();
                let page = match self.service.read_topic(&topic, &marks, STREAM_BATCH).await {
                    Ok(page) => page,
                    Err(status) => {
                        let _ = self.out.send(Err(status)).await;
                        return false;
                    }
                };
                let fresh: Vec<Found> =
                    page.found.into_iter().filter(|f| self.advance(&topic, f)).collect();
                if !fresh.is_empty() && !self.send(fresh).await {
                    return false;
                }
                if !page.more {
                    break;
                }
            }
        }
        true
    }

    async fn send(&self, found: Vec<Found>) -> bool {
        let envelopes = match self.service.seal_all(&found) {
            Ok(envelopes) => envelopes,
            Err(status) => {
                let _ = self.out.send(Err(status)).await;
                return false;
            }
        };
        self.out.send(Ok(replication::SubscribeEnvelopesResponse { envelopes })).await.is_ok()
    }
}

fn group_topic(message: &GroupMessage) -> Option<Topic> {
    let group_message::Version::V1(v1) = message.version.as_ref()?;
    Some(Topic::new(TopicKind::GroupMessages, v1.group_id.to_vec()))
}

fn welcome_topic(message: &WelcomeMessage) -> Option<Topic> {
    let key = match &message.version {
        Some(welcome_message::Version::V1(v1)) => &v1.installation_key,
        Some(welcome_message::Version::WelcomePointer(p)) => &p.installation_key,
        None => return None,
    };
    Some(Topic::new(TopicKind::Welcomes, key.to_vec()))
}

#[tonic::async_trait]
impl Health for D14nService {
    async fn check(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse { status: ServingStatus::Serving as i32 }))
    }
}

#[tonic::async_trait]
impl d14n_migration_api_server::D14nMigrationApi for D14nService {
    async fn fetch_d14n_cutover(
        &self,
        _request: Request<()>,
    ) -> Result<Response<FetchD14nCutoverResponse>, Status> {
        // No cutover planned: a time no client reaches (and that fits an i64).
        let never = u64::try_from(i64::MAX).unwrap_or(u64::MAX);
        let timestamp_ns = self.inner.shared.cutover_ns.unwrap_or(never);
        Ok(Response::new(FetchD14nCutoverResponse { timestamp_ns }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: usize) -> [u8; 32] {
        let mut d = [0u8; 32];
        d[..8].copy_from_slice(&(n as u64).to_be_bytes());
        d
    }

    #[test]
    fn remembered_signatures_last_two_generations_and_a_used_one_moves_up() {
        let mut kept = Signatures::default();
        for n in 0..SIGNATURES_KEPT {
            kept.insert(digest(n), [n as u8; 65]);
        }
        // A full generation: the next insert starts a new one, the first is still there.
        kept.insert(digest(SIGNATURES_KEPT), [1; 65]);
        assert_eq!((kept.newer.len(), kept.older.len()), (1, SIGNATURES_KEPT));
        assert_eq!(kept.get(&digest(5)), Some([5; 65]), "found in the older generation");
        assert_eq!(kept.newer.len(), 2, "and moved to the newer one");
        // Another generation later, what was not used is gone; what was used is not.
        for n in 0..SIGNATURES_KEPT {
            kept.insert(digest(SIGNATURES_KEPT + 1 + n), [0; 65]);
        }
        assert_eq!(kept.get(&digest(6)), None);
        assert_eq!(kept.get(&digest(5)), Some([5; 65]));
        assert!(kept.newer.len() + kept.older.len() <= 2 * SIGNATURES_KEPT);
    }
}
