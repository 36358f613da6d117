//! The decentralized network's API (d14n) behind the V3 calls the client makes: each V3
//! request becomes client envelopes published through a gateway (`PayerApi`) or a topic query
//! on a node (`ReplicationApi`), and each answer comes back in V3 shape, so the rest of the
//! client does not know which network it talks to.
//!
//! Reads take the client's vector cursor ([`Cursor`]) as the network's `last_seen` and return
//! pages whose items carry their originator and sequence id, so the client keeps a place per
//! originator: exact on a network where each node numbers what it originates (xmtpd) as on one
//! that numbers a topic in one series (our node, and V3 data migrated into d14n).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use openmls::prelude::MlsMessageIn;
use prost::Message as _;
use tls_codec::Deserialize as _;
use tokio::sync::OnceCell;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Channel;
use tonic::{Response, Status};
use xmtp_proto::Bytes;
use xmtp_proto::associations::IdentifierKind;
use xmtp_proto::d14n::{self, Topic, TopicKind};
use xmtp_proto::d14n_envelopes::{
    AuthenticatedData, ClientEnvelope, Cursor as WireCursor, OriginatorEnvelope, PayerEnvelope,
    UnsignedOriginatorEnvelope, client_envelope::Payload,
};
use xmtp_proto::d14n_payer::{self as payer, payer_api_client::PayerApiClient};
use xmtp_proto::d14n_replication::{
    self as replication, replication_api_client::ReplicationApiClient,
};
use xmtp_proto::identity_api as id_api;
use xmtp_proto::mls_api as api;

use crate::cursor::{Cursor, Position};
use crate::network::Page;

/// Most envelopes a node answers per query.
const QUERY_LIMIT: u32 = 1_000;

/// A stream of V3-shaped items.
pub(crate) type Live<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The two d14n roles: the gateway (writes) and the node it names (reads), found on first use.
#[derive(Debug, Clone)]
pub(crate) struct D14n {
    gateway: PayerApiClient<Channel>,
    gateway_channel: Channel,
    gateway_url: String,
    trusted_ca_pem: Option<Vec<u8>>,
    node: Arc<OnceCell<ReplicationApiClient<Channel>>>,
}

/// An envelope taken apart.
struct Opened {
    /// The target topic's bytes.
    topic: Vec<u8>,
    originator: u32,
    sequence_id: u64,
    created_ns: u64,
    payload: Option<Payload>,
}

fn open(envelope: &OriginatorEnvelope) -> Result<Opened, Status> {
    let bad = |what: &str| Status::data_loss(format!("a node sent a malformed envelope: {what}"));
    let unsigned =
        UnsignedOriginatorEnvelope::decode(envelope.unsigned_originator_envelope.as_slice())
            .map_err(|_| bad("originator envelope"))?;
    let payer = PayerEnvelope::decode(unsigned.payer_envelope_bytes.as_slice())
        .map_err(|_| bad("payer envelope"))?;
    let client = ClientEnvelope::decode(payer.unsigned_client_envelope.as_slice())
        .map_err(|_| bad("client envelope"))?;
    Ok(Opened {
        topic: client.aad.map(|a| a.target_topic).unwrap_or_default(),
        originator: unsigned.originator_node_id,
        sequence_id: unsigned.originator_sequence_id,
        created_ns: u64::try_from(unsigned.originator_ns).unwrap_or(0),
        payload: client.payload,
    })
}

fn envelope(topic: &Topic, payload: Payload) -> ClientEnvelope {
    ClientEnvelope {
        aad: Some(AuthenticatedData { target_topic: topic.to_bytes(), depends_on: None }),
        payload: Some(payload),
    }
}

fn cursor(originators: &[u32], after: u64) -> Option<WireCursor> {
    Some(WireCursor { node_id_to_sequence_id: originators.iter().map(|o| (*o, after)).collect() })
}

/// The group an MLS message belongs to, from its public framing.
fn group_of(data: &[u8]) -> Result<Vec<u8>, Status> {
    let message = MlsMessageIn::tls_deserialize_exact(data)
        .map_err(|e| Status::invalid_argument(format!("not an MLS message: {e}")))?;
    let protocol = message
        .try_into_protocol_message()
        .map_err(|e| Status::invalid_argument(format!("not a group message: {e}")))?;
    Ok(protocol.group_id().as_slice().to_vec())
}

fn group_message(topic: &Topic, opened: Opened) -> Option<api::group_message::V1> {
    let Some(Payload::GroupMessage(api::GroupMessageInput {
        version: Some(api::group_message_input::Version::V1(v1)),
    })) = opened.payload
    else {
        return None;
    };
    Some(api::group_message::V1 {
        id: opened.sequence_id,
        created_ns: opened.created_ns,
        group_id: topic.identifier.clone().into(),
        data: v1.data,
        sender_hmac: v1.sender_hmac,
        should_push: v1.should_push,
        is_commit: opened.originator == d14n::COMMITS,
    })
}

fn welcome_message(opened: Opened) -> Option<api::WelcomeMessage> {
    let Some(Payload::WelcomeMessage(input)) = opened.payload else { return None };
    let version = match input.version? {
        api::welcome_message_input::Version::V1(v1) => {
            api::welcome_message::Version::V1(api::welcome_message::V1 {
                id: opened.sequence_id,
                created_ns: opened.created_ns,
                installation_key: v1.installation_key,
                data: v1.data,
                hpke_public_key: v1.hpke_public_key,
                wrapper_algorithm: v1.wrapper_algorithm,
                welcome_metadata: v1.welcome_metadata,
            })
        }
        api::welcome_message_input::Version::WelcomePointer(p) => {
            api::welcome_message::Version::WelcomePointer(api::welcome_message::WelcomePointer {
                id: opened.sequence_id,
                created_ns: opened.created_ns,
                installation_key: p.installation_key,
                welcome_pointer: p.welcome_pointer,
                hpke_public_key: p.hpke_public_key,
                wrapper_algorithm: p.wrapper_algorithm,
            })
        }
    };
    Some(api::WelcomeMessage { version: Some(version) })
}

/// A query's answer as a page: every envelope moves the cursor (also one that is not of the
/// kind asked for); `item` picks out what the client reads.
fn page<T>(
    opened: Vec<Opened>,
    after: &Cursor,
    limit: u32,
    item: impl Fn(Opened) -> Option<T>,
) -> Page<T> {
    let more = opened.len() >= limit as usize;
    let mut reached = after.clone();
    let mut items = Vec::with_capacity(opened.len());
    for envelope in opened {
        let position =
            Position { originator: envelope.originator, sequence_id: envelope.sequence_id };
        reached.advance(position);
        if let Some(found) = item(envelope) {
            items.push((position, found));
        }
    }
    Page { items, more, reached }
}

/// A cursor as the network's vector clock.
fn last_seen(cursor: &Cursor) -> Option<WireCursor> {
    Some(WireCursor { node_id_to_sequence_id: cursor.entries().collect() })
}

/// The earliest of several cursors, per originator.
fn earliest<'a>(mut cursors: impl Iterator<Item = &'a Cursor>) -> Cursor {
    let first = cursors.next().cloned().unwrap_or_default();
    cursors.fold(first, |a, b| a.meet(b))
}

impl D14n {
    pub(crate) fn new(
        channel: Channel,
        gateway_url: String,
        trusted_ca_pem: Option<Vec<u8>>,
    ) -> Self {
        let gateway = PayerApiClient::new(channel.clone())
            .max_decoding_message_size(crate::network::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(crate::network::MAX_MESSAGE_BYTES);
        Self {
            gateway,
            gateway_channel: channel,
            gateway_url,
            trusted_ca_pem,
            node: Arc::new(OnceCell::new()),
        }
    }

    /// The node to read from: the lowest-numbered one the gateway lists. A gateway reached over
    /// TLS may not send reads to a plaintext node.
    async fn node(&self) -> Result<ReplicationApiClient<Channel>, Status> {
        let node = self
            .node
            .get_or_try_init(|| async {
                let nodes = self.gateway.clone().get_nodes(payer::GetNodesRequest {}).await?;
                let Some((id, url)) =
                    nodes.into_inner().nodes.into_iter().min_by_key(|(id, _)| *id)
                else {
                    return Err(Status::unavailable("the gateway lists no nodes"));
                };
                let url = url.trim_end_matches('/').to_owned();
                if self.gateway_url.starts_with("https://") && !url.starts_with("https://") {
                    return Err(Status::permission_denied(format!(
                        "the gateway is reached over TLS but names node {id} at {url} without it"
                    )));
                }
                let channel = if url == self.gateway_url {
                    self.gateway_channel.clone()
                } else {
                    crate::network::endpoint(&url, self.trusted_ca_pem.as_deref())
                        .map_err(|e| Status::unavailable(e.to_string()))?
                };
                tracing::info!(node = id, %url, "d14n reads go to this node");
                Ok(ReplicationApiClient::new(channel)
                    .max_decoding_message_size(crate::network::MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(crate::network::MAX_MESSAGE_BYTES))
            })
            .await?;
        Ok(node.clone())
    }

    async fn publish(&self, envelopes: Vec<ClientEnvelope>) -> Result<Response<()>, Status> {
        let request = payer::PublishClientEnvelopesRequest { envelopes };
        self.gateway.clone().publish_client_envelopes(request).await?;
        Ok(Response::new(()))
    }

    async fn query(
        &self,
        topics: Vec<Vec<u8>>,
        last_seen: Option<WireCursor>,
        limit: u32,
    ) -> Result<Vec<Opened>, Status> {
        let request = replication::QueryEnvelopesRequest {
            query: Some(replication::EnvelopesQuery {
                topics,
                originator_node_ids: vec![],
                last_seen,
            }),
            limit,
        };
        let answer = self.node().await?.query_envelopes(request).await?.into_inner();
        answer.envelopes.iter().map(open).collect()
    }

    pub(crate) async fn upload_key_package(
        &self,
        installation_key: &[u8],
        request: api::UploadKeyPackageRequest,
    ) -> Result<Response<()>, Status> {
        let topic = Topic::new(TopicKind::KeyPackages, installation_key.to_vec());
        self.publish(vec![envelope(&topic, Payload::UploadKeyPackage(request))]).await
    }

    pub(crate) async fn fetch_key_packages(
        &self,
        request: api::FetchKeyPackagesRequest,
    ) -> Result<Response<api::FetchKeyPackagesResponse>, Status> {
        let topics = request
            .installation_keys
            .iter()
            .map(|k| Topic::new(TopicKind::KeyPackages, k.to_vec()).to_bytes())
            .collect();
        let answer = self
            .node()
            .await?
            .get_newest_envelope(replication::GetNewestEnvelopeRequest { topics })
            .await?
            .into_inner();
        let mut key_packages = Vec::with_capacity(answer.results.len());
        for result in answer.results {
            let bytes = match result.originator_envelope.as_ref().map(open).transpose()? {
                Some(Opened { payload: Some(Payload::UploadKeyPackage(upload)), .. }) => {
                    upload.key_package.map(|k| k.key_package_tls_serialized).unwrap_or_default()
                }
                _ => Bytes::new(),
            };
            key_packages.push(api::fetch_key_packages_response::KeyPackage {
                key_package_tls_serialized: bytes,
            });
        }
        Ok(Response::new(api::FetchKeyPackagesResponse { key_packages }))
    }

    pub(crate) async fn send_group_messages(
        &self,
        request: api::SendGroupMessagesRequest,
    ) -> Result<Response<()>, Status> {
        let mut envelopes = Vec::with_capacity(request.messages.len());
        for input in request.messages {
            let Some(api::group_message_input::Version::V1(v1)) = &input.version else {
                return Err(Status::invalid_argument("a group message without content"));
            };
            let topic = Topic::new(TopicKind::GroupMessages, group_of(&v1.data)?);
            envelopes.push(envelope(&topic, Payload::GroupMessage(input)));
        }
        self.publish(envelopes).await
    }

    pub(crate) async fn send_welcome_messages(
        &self,
        request: api::SendWelcomeMessagesRequest,
    ) -> Result<Response<()>, Status> {
        let mut envelopes = Vec::with_capacity(request.messages.len());
        for input in request.messages {
            let key = match &input.version {
                Some(api::welcome_message_input::Version::V1(v1)) => v1.installation_key.to_vec(),
                Some(api::welcome_message_input::Version::WelcomePointer(p)) => {
                    p.installation_key.to_vec()
                }
                None => return Err(Status::invalid_argument("a welcome without content")),
            };
            let topic = Topic::new(TopicKind::Welcomes, key);
            envelopes.push(envelope(&topic, Payload::WelcomeMessage(input)));
        }
        self.publish(envelopes).await
    }

    /// A page of the group's messages after `after`.
    pub(crate) async fn group_messages(
        &self,
        group_id: &[u8],
        after: &Cursor,
        limit: u32,
    ) -> Result<Page<api::group_message::V1>, Status> {
        let topic = Topic::new(TopicKind::GroupMessages, group_id.to_vec());
        let limit = limit.min(QUERY_LIMIT);
        let opened = self.query(vec![topic.to_bytes()], last_seen(after), limit).await?;
        Ok(page(opened, after, limit, |o| group_message(&topic, o)))
    }

    /// A page of the welcomes to `installation_key` after `after`.
    pub(crate) async fn welcomes(
        &self,
        installation_key: &[u8],
        after: &Cursor,
        limit: u32,
    ) -> Result<Page<api::WelcomeMessage>, Status> {
        let topic = Topic::new(TopicKind::Welcomes, installation_key.to_vec());
        let limit = limit.min(QUERY_LIMIT);
        let opened = self.query(vec![topic.to_bytes()], last_seen(after), limit).await?;
        Ok(page(opened, after, limit, welcome_message))
    }

    /// Group messages of the given groups, live, from the earliest of their cursors (one
    /// subscription has one cursor), so a group may repeat what the client already has: the
    /// client reads each group from its own cursor.
    pub(crate) async fn subscribe_group_messages(
        &self,
        groups: Vec<(Vec<u8>, Cursor)>,
    ) -> Result<Response<Live<api::GroupMessage>>, Status> {
        // A node serves subscriptions by topic: with no conversation there is nothing to follow
        // yet (a welcome starts a new round).
        if groups.is_empty() {
            return Ok(Response::new(Box::pin(futures_util::stream::pending())));
        }
        let from = earliest(groups.iter().map(|(_, c)| c));
        let topics: Vec<Topic> =
            groups.into_iter().map(|(g, _)| Topic::new(TopicKind::GroupMessages, g)).collect();
        let stream = self.subscribe(&topics, last_seen(&from)).await?;
        let by_group: HashMap<Vec<u8>, Topic> =
            topics.into_iter().map(|t| (t.to_bytes(), t)).collect();
        let live = futures_util::StreamExt::flat_map(stream, move |batch| {
            let items: Vec<Result<api::GroupMessage, Status>> = match batch {
                Err(status) => vec![Err(status)],
                Ok(envelopes) => envelopes
                    .into_iter()
                    .filter_map(|opened| {
                        let topic = by_group.get(&opened.topic)?;
                        let v1 = group_message(topic, opened)?;
                        Some(Ok(api::GroupMessage {
                            version: Some(api::group_message::Version::V1(v1)),
                        }))
                    })
                    .collect(),
            };
            futures_util::stream::iter(items)
        });
        Ok(Response::new(Box::pin(live)))
    }

    /// Welcomes to `installation_key`, live, after `after`.
    pub(crate) async fn subscribe_welcomes(
        &self,
        installation_key: &[u8],
        after: &Cursor,
    ) -> Result<Response<Live<api::WelcomeMessage>>, Status> {
        let topics = [Topic::new(TopicKind::Welcomes, installation_key.to_vec())];
        let stream = self.subscribe(&topics, last_seen(after)).await?;
        let live = futures_util::StreamExt::flat_map(stream, |batch| {
            let items: Vec<Result<api::WelcomeMessage, Status>> = match batch {
                Err(status) => vec![Err(status)],
                Ok(envelopes) => envelopes
                    .into_iter()
                    .filter_map(|opened| welcome_message(opened).map(Ok))
                    .collect(),
            };
            futures_util::stream::iter(items)
        });
        Ok(Response::new(Box::pin(live)))
    }

    /// Batches of envelopes, as the node sends them.
    async fn subscribe(
        &self,
        topics: &[Topic],
        last_seen: Option<WireCursor>,
    ) -> Result<Live<Vec<Opened>>, Status> {
        let request = replication::SubscribeEnvelopesRequest {
            query: Some(replication::EnvelopesQuery {
                topics: topics.iter().map(Topic::to_bytes).collect(),
                originator_node_ids: vec![],
                last_seen,
            }),
        };
        let stream = self.node().await?.subscribe_envelopes(request).await?.into_inner();
        let batches = stream.map(|batch| batch?.envelopes.iter().map(open).collect());
        Ok(Box::pin(batches))
    }

    pub(crate) async fn publish_identity_update(
        &self,
        request: id_api::PublishIdentityUpdateRequest,
    ) -> Result<Response<id_api::PublishIdentityUpdateResponse>, Status> {
        let update = request
            .identity_update
            .ok_or_else(|| Status::invalid_argument("no identity update"))?;
        let topic = Topic::identity_updates(&update.inbox_id)
            .ok_or_else(|| Status::invalid_argument("the inbox id is not hex"))?;
        self.publish(vec![envelope(&topic, Payload::IdentityUpdate(update))]).await?;
        Ok(Response::new(id_api::PublishIdentityUpdateResponse {}))
    }

    pub(crate) async fn get_identity_updates(
        &self,
        request: id_api::GetIdentityUpdatesRequest,
    ) -> Result<Response<id_api::GetIdentityUpdatesResponse>, Status> {
        let mut responses = Vec::with_capacity(request.requests.len());
        for asked in request.requests {
            let Some(topic) = Topic::identity_updates(&asked.inbox_id) else {
                responses.push(id_api::get_identity_updates_response::Response {
                    inbox_id: asked.inbox_id,
                    updates: vec![],
                });
                continue;
            };
            let mut updates = Vec::new();
            let mut after = asked.sequence_id;
            loop {
                let page = self
                    .query(vec![topic.to_bytes()], cursor(topic.originators(), after), QUERY_LIMIT)
                    .await?;
                let count = page.len();
                for opened in page {
                    after = after.max(opened.sequence_id);
                    if let Some(Payload::IdentityUpdate(update)) = opened.payload {
                        updates.push(id_api::get_identity_updates_response::IdentityUpdateLog {
                            sequence_id: opened.sequence_id,
                            server_timestamp_ns: opened.created_ns,
                            update: Some(update),
                        });
                    }
                }
                if count < QUERY_LIMIT as usize {
                    break;
                }
            }
            responses.push(id_api::get_identity_updates_response::Response {
                inbox_id: asked.inbox_id,
                updates,
            });
        }
        Ok(Response::new(id_api::GetIdentityUpdatesResponse { responses }))
    }

    pub(crate) async fn get_inbox_ids(
        &self,
        request: id_api::GetInboxIdsRequest,
    ) -> Result<Response<id_api::GetInboxIdsResponse>, Status> {
        let requests = request
            .requests
            .into_iter()
            .map(|r| replication::get_inbox_ids_request::Request {
                identifier: r.identifier,
                identifier_kind: if r.identifier_kind == 0 {
                    IdentifierKind::Ethereum as i32
                } else {
                    r.identifier_kind
                },
            })
            .collect();
        let answer = self
            .node()
            .await?
            .get_inbox_ids(replication::GetInboxIdsRequest { requests })
            .await?
            .into_inner();
        let responses = answer
            .responses
            .into_iter()
            .map(|r| id_api::get_inbox_ids_response::Response {
                identifier: r.identifier,
                inbox_id: r.inbox_id,
                identifier_kind: r.identifier_kind,
            })
            .collect();
        Ok(Response::new(id_api::GetInboxIdsResponse { responses }))
    }
}
