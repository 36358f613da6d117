//! Which XMTP network to talk to, and the way there: V3, the decentralized network (d14n), or
//! V3 until the node announces the cutover.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Response, Status};
use xmtp_proto::d14n;
use xmtp_proto::identity_api::{self as id_api, identity_api_client::IdentityApiClient};
use xmtp_proto::migration_api::d14n_migration_api_client::D14nMigrationApiClient;
use xmtp_proto::mls_api::{self as api, mls_api_client::MlsApiClient};

use crate::client::Clock;
use crate::cursor::{Cursor, Position};
use crate::d14n::{D14n, Live};
use crate::error::{ClientError, Result};

/// Largest gRPC message either side sends (libxmtp's `GRPC_PAYLOAD_LIMIT`).
pub const MAX_MESSAGE_BYTES: usize = 25 * 1024 * 1024;

/// An XMTP network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// XMTP's public `dev` network.
    Dev,
    /// XMTP's public `production` network.
    Production,
    /// Any node by URL: `http://` is h2c (plaintext HTTP/2), `https://` is TLS with the web PKI
    /// roots (plus [`crate::ClientOptions::trusted_ca_pem`]). The embedded node is one of these.
    /// The client speaks V3 to it until the node announces the d14n cutover
    /// (`FetchD14nCutover`) and d14n from then on.
    Url(String),
    /// A d14n gateway by URL (`gateway:<url>`): writes go to it, reads to the node it names.
    Gateway(String),
}

impl Network {
    /// Parses `dev`, `production`, a node URL, `gateway:<url>`, or the name of one of XMTP's
    /// d14n test networks (`testnet-dev`, `testnet-staging`, `testnet`: their gateways).
    pub fn parse(text: &str) -> Result<Self> {
        let is_url = |u: &str| u.starts_with("http://") || u.starts_with("https://");
        match text {
            "dev" => Ok(Self::Dev),
            "production" => Ok(Self::Production),
            "testnet-dev" => Ok(Self::Gateway("https://payer.testnet-dev.xmtp.network:443".into())),
            "testnet-staging" => {
                Ok(Self::Gateway("https://payer.testnet-staging.xmtp.network:443".into()))
            }
            "testnet" => Ok(Self::Gateway("https://payer.testnet.xmtp.network:443".into())),
            url if is_url(url) => Ok(Self::Url(url.trim_end_matches('/').to_owned())),
            gateway if gateway.strip_prefix("gateway:").is_some_and(is_url) => {
                Ok(Self::Gateway(gateway["gateway:".len()..].trim_end_matches('/').to_owned()))
            }
            other => Err(ClientError::InvalidInput(format!(
                "unknown network {other:?}: use dev, production, a node URL (http:// or https://) or gateway:<url>"
            ))),
        }
    }

    /// The node URL.
    pub fn url(&self) -> &str {
        match self {
            Self::Dev => "https://grpc.dev.xmtp.network:443",
            Self::Production => "https://grpc.production.xmtp.network:443",
            Self::Url(url) | Self::Gateway(url) => url,
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dev => f.write_str("dev"),
            Self::Production => f.write_str("production"),
            Self::Url(url) => f.write_str(url),
            Self::Gateway(url) => write!(f, "gateway:{url}"),
        }
    }
}

/// How often a client on a V3 network asks its node when V3 publishing stops.
const CUTOVER_REFRESH: Duration = Duration::from_secs(60 * 60);

pub(crate) fn endpoint(url: &str, trusted_ca_pem: Option<&[u8]>) -> Result<Channel> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| ClientError::Transport(format!("{url}: {e}")))?
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(Duration::from_secs(16))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true)
        .tcp_nodelay(true);
    if url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new().with_webpki_roots();
        if let Some(pem) = trusted_ca_pem {
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        endpoint =
            endpoint.tls_config(tls).map_err(|e| ClientError::Transport(format!("{url}: {e}")))?;
    }
    Ok(endpoint.connect_lazy())
}

/// The V3 services of a node.
#[derive(Debug, Clone)]
struct V3 {
    mls: MlsApiClient<Channel>,
    identity: IdentityApiClient<Channel>,
    migration: D14nMigrationApiClient<Channel>,
}

/// When V3 publishing stops, as the V3 node last said, and when it was asked.
#[derive(Debug, Default)]
struct Cutover {
    at_ns: Option<u64>,
    checked: Option<Instant>,
}

/// Where calls go: V3, d14n, or V3 until the cutover and d14n from then on.
#[derive(Debug)]
struct Backend {
    v3: Option<V3>,
    d14n: Option<D14n>,
    installation_key: [u8; 32],
    clock: Arc<dyn Clock>,
    cutover: Mutex<Cutover>,
}

/// Whether a V3 node refused a call because the network moved to d14n.
fn moved_to_d14n(status: &Status) -> bool {
    status.code() == tonic::Code::Unavailable && status.message().contains("D14N")
}

impl Backend {
    /// The d14n client to use now, or `None` for V3.
    async fn d14n(&self) -> Option<&D14n> {
        let d14n = self.d14n.as_ref()?;
        let Some(v3) = &self.v3 else { return Some(d14n) };
        let due = {
            let cutover = self.cutover.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if cutover.at_ns.is_some_and(|at| self.clock.now_ns() >= at) {
                return Some(d14n);
            }
            cutover.checked.is_none_or(|t| t.elapsed() >= CUTOVER_REFRESH)
        };
        if due {
            self.check_cutover(v3).await;
            let cutover = self.cutover.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if cutover.at_ns.is_some_and(|at| self.clock.now_ns() >= at) {
                return Some(d14n);
            }
        }
        None
    }

    /// Asks the V3 node for the cutover time (a node without the call has none).
    async fn check_cutover(&self, v3: &V3) {
        let answer = v3.migration.clone().fetch_d14n_cutover(()).await;
        let at_ns = match answer {
            Ok(answer) => Some(answer.into_inner().timestamp_ns),
            Err(status) if status.code() == tonic::Code::Unimplemented => None,
            // Unreachable for now: ask again on the next call.
            Err(_) => return,
        };
        let mut cutover = self.cutover.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *cutover = Cutover { at_ns, checked: Some(Instant::now()) };
        if let Some(at) = at_ns.filter(|at| *at < u64::try_from(i64::MAX).unwrap_or(u64::MAX)) {
            tracing::info!(at, "the node announces the move to d14n");
        }
    }

    /// After a V3 node said it moved to d14n: whether d14n can take the call.
    async fn moved(&self, status: &Status) -> Option<&D14n> {
        if !moved_to_d14n(status) {
            return None;
        }
        let v3 = self.v3.as_ref()?;
        self.check_cutover(v3).await;
        let d14n = self.d14n.as_ref()?;
        tracing::info!("the node stopped V3 publishing; using d14n");
        let mut cutover = self.cutover.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = self.clock.now_ns();
        cutover.at_ns = Some(cutover.at_ns.map_or(now, |at| at.min(now)));
        Some(d14n)
    }

    fn v3(&self) -> std::result::Result<&V3, Status> {
        self.v3.as_ref().ok_or_else(|| Status::internal("no V3 node configured"))
    }
}

/// One unary call: over d14n when due, else V3; a V3 refusal because the network moved is
/// answered over d14n.
macro_rules! route {
    ($backend:expr, $service:ident, $method:ident, $request:expr) => {{
        let backend = &$backend;
        let request = $request;
        match backend.d14n().await {
            Some(d14n) => d14n.$method(request).await,
            None => match backend.v3()?.$service.clone().$method(request.clone()).await {
                Err(status) => match backend.moved(&status).await {
                    Some(d14n) => d14n.$method(request).await,
                    None => Err(status),
                },
                answer => answer,
            },
        }
    }};
}

/// The client's way to a network: the V3 calls the client makes, answered over V3 or over the
/// decentralized network (d14n: always for a gateway, from the announced cutover on for a
/// node that serves both). Channels connect lazily: a node that is down when the client
/// starts (or restarts later) is reconnected on the next call.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    pub(crate) mls: Mls,
    pub(crate) identity: Identity,
}

/// The `MlsApi` calls, routed.
#[derive(Debug, Clone)]
pub(crate) struct Mls(Arc<Backend>);

/// The `IdentityApi` calls, routed.
#[derive(Debug, Clone)]
pub(crate) struct Identity(Arc<Backend>);

impl Api {
    /// Lazily connected channels to `network`; `https://` is verified against the web PKI
    /// roots plus `trusted_ca_pem`.
    pub(crate) fn connect(
        network: &Network,
        trusted_ca_pem: Option<&[u8]>,
        installation_key: [u8; 32],
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let v3 = |url: &str| -> Result<V3> {
            let channel = endpoint(url, trusted_ca_pem)?;
            Ok(V3 {
                mls: MlsApiClient::new(channel.clone())
                    .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES),
                identity: IdentityApiClient::new(channel.clone())
                    .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES),
                migration: D14nMigrationApiClient::new(channel),
            })
        };
        let d14n = |gateway: &str| -> Result<D14n> {
            let channel = endpoint(gateway, trusted_ca_pem)?;
            Ok(D14n::new(channel, gateway.to_owned(), trusted_ca_pem.map(<[u8]>::to_vec)))
        };
        let (v3, d14n) = match network {
            // XMTP's V3 networks: no d14n gateway of theirs is published yet.
            Network::Dev | Network::Production => (Some(v3(network.url())?), None),
            // Our node serves both on one URL.
            Network::Url(url) => (Some(v3(url)?), Some(d14n(url)?)),
            Network::Gateway(url) => (None, Some(d14n(url)?)),
        };
        let backend = Arc::new(Backend {
            v3,
            d14n,
            installation_key,
            clock,
            cutover: Mutex::new(Cutover::default()),
        });
        Ok(Self { mls: Mls(Arc::clone(&backend)), identity: Identity(backend) })
    }
}

type Answer<T> = std::result::Result<Response<T>, Status>;

/// One page of a topic, read after a cursor.
#[derive(Debug)]
pub(crate) struct Page<T> {
    /// The items, each with its place, in the order the network sent them.
    pub(crate) items: Vec<(Position, T)>,
    /// More may follow: ask again after `reached`.
    pub(crate) more: bool,
    /// Where reading stands once the page is processed (it may cover more than the items:
    /// envelopes of other kinds, or the rest of a V3 series).
    pub(crate) reached: Cursor,
}

impl Mls {
    pub(crate) async fn upload_key_package(
        &self,
        request: api::UploadKeyPackageRequest,
    ) -> Answer<()> {
        let backend = &self.0;
        let key = backend.installation_key;
        match backend.d14n().await {
            Some(d14n) => d14n.upload_key_package(&key, request).await,
            None => match backend.v3()?.mls.clone().upload_key_package(request.clone()).await {
                Err(status) => match backend.moved(&status).await {
                    Some(d14n) => d14n.upload_key_package(&key, request).await,
                    None => Err(status),
                },
                answer => answer,
            },
        }
    }

    pub(crate) async fn fetch_key_packages(
        &self,
        request: api::FetchKeyPackagesRequest,
    ) -> Answer<api::FetchKeyPackagesResponse> {
        route!(self.0, mls, fetch_key_packages, request)
    }

    pub(crate) async fn send_group_messages(
        &self,
        request: api::SendGroupMessagesRequest,
    ) -> Answer<()> {
        route!(self.0, mls, send_group_messages, request)
    }

    pub(crate) async fn send_welcome_messages(
        &self,
        request: api::SendWelcomeMessagesRequest,
    ) -> Answer<()> {
        route!(self.0, mls, send_welcome_messages, request)
    }

    /// A page of the group's messages after `after` (see [`Page`]).
    pub(crate) async fn group_messages(
        &self,
        group_id: &[u8],
        after: &Cursor,
        limit: u32,
    ) -> std::result::Result<Page<api::group_message::V1>, Status> {
        let backend = &self.0;
        if let Some(d14n) = backend.d14n().await {
            return d14n.group_messages(group_id, after, limit).await;
        }
        let request = api::QueryGroupMessagesRequest {
            group_id: group_id.to_vec().into(),
            paging_info: ascending(after.v3(GROUP_SERIES), limit),
        };
        match backend.v3()?.mls.clone().query_group_messages(request).await {
            Ok(answer) => Ok(v3_group_page(answer.into_inner(), after, limit)),
            Err(status) => match backend.moved(&status).await {
                Some(d14n) => d14n.group_messages(group_id, after, limit).await,
                None => Err(status),
            },
        }
    }

    /// A page of the welcomes to our installation after `after` (see [`Page`]).
    pub(crate) async fn welcomes(
        &self,
        after: &Cursor,
        limit: u32,
    ) -> std::result::Result<Page<api::WelcomeMessage>, Status> {
        let backend = &self.0;
        let key = &backend.installation_key;
        if let Some(d14n) = backend.d14n().await {
            return d14n.welcomes(key, after, limit).await;
        }
        let request = api::QueryWelcomeMessagesRequest {
            installation_key: key.to_vec().into(),
            paging_info: ascending(after.get(d14n::WELCOMES), limit),
        };
        match backend.v3()?.mls.clone().query_welcome_messages(request).await {
            Ok(answer) => Ok(v3_welcome_page(answer.into_inner(), after, limit)),
            Err(status) => match backend.moved(&status).await {
                Some(d14n) => d14n.welcomes(key, after, limit).await,
                None => Err(status),
            },
        }
    }

    /// Live group messages of the groups given with their cursors. A V3 subscription made
    /// before the cutover goes on until it ends; the stream's next subscription is made over
    /// d14n.
    pub(crate) async fn subscribe_group_messages(
        &self,
        groups: Vec<(Vec<u8>, Cursor)>,
    ) -> Answer<Live<api::GroupMessage>> {
        let backend = &self.0;
        if let Some(d14n) = backend.d14n().await {
            return d14n.subscribe_group_messages(groups).await;
        }
        let filters = groups
            .iter()
            .map(|(group_id, after)| api::subscribe_group_messages_request::Filter {
                group_id: group_id.clone().into(),
                id_cursor: after.v3(GROUP_SERIES),
            })
            .collect();
        let request = api::SubscribeGroupMessagesRequest { filters };
        match backend.v3()?.mls.clone().subscribe_group_messages(request).await {
            Ok(stream) => Ok(Response::new(Box::pin(stream.into_inner()) as Live<_>)),
            Err(status) => match backend.moved(&status).await {
                Some(d14n) => d14n.subscribe_group_messages(groups).await,
                None => Err(status),
            },
        }
    }

    /// Live welcomes to our installation (see [`Mls::subscribe_group_messages`]).
    pub(crate) async fn subscribe_welcomes(
        &self,
        after: &Cursor,
    ) -> Answer<Live<api::WelcomeMessage>> {
        let backend = &self.0;
        let key = &backend.installation_key;
        if let Some(d14n) = backend.d14n().await {
            return d14n.subscribe_welcomes(key, after).await;
        }
        let request = api::SubscribeWelcomeMessagesRequest {
            filters: vec![api::subscribe_welcome_messages_request::Filter {
                installation_key: key.to_vec().into(),
                id_cursor: after.get(d14n::WELCOMES),
            }],
        };
        match backend.v3()?.mls.clone().subscribe_welcome_messages(request).await {
            Ok(stream) => Ok(Response::new(Box::pin(stream.into_inner()) as Live<_>)),
            Err(status) => match backend.moved(&status).await {
                Some(d14n) => d14n.subscribe_welcomes(key, after).await,
                None => Err(status),
            },
        }
    }
}

/// The originators a V3 group topic is filed under; V3 numbers both in one series.
const GROUP_SERIES: &[u32] = &[d14n::COMMITS, d14n::APPLICATION_MESSAGES];

fn ascending(cursor: u64, limit: u32) -> Option<api::PagingInfo> {
    Some(api::PagingInfo {
        direction: api::SortDirection::Ascending as i32,
        limit,
        id_cursor: cursor,
    })
}

/// Whether a V3 answer of `count` items to a query for `limit` may have more after it (a full
/// page, or one the node cut short by size and said so with a cursor).
fn v3_more(count: usize, limit: u32, paging: Option<&api::PagingInfo>) -> bool {
    count >= limit as usize || paging.is_some_and(|p| p.id_cursor != 0)
}

/// A V3 page of group messages: each filed under its kind's originator (commits 0, application
/// messages 10, as libxmtp files them); the page moves both to its last id, since V3 numbers
/// them in one series.
fn v3_group_page(
    answer: api::QueryGroupMessagesResponse,
    after: &Cursor,
    limit: u32,
) -> Page<api::group_message::V1> {
    let more = v3_more(answer.messages.len(), limit, answer.paging_info.as_ref());
    let items: Vec<_> = answer
        .messages
        .into_iter()
        .filter_map(|m| {
            let api::group_message::Version::V1(v1) = m.version?;
            let originator = if v1.is_commit { d14n::COMMITS } else { d14n::APPLICATION_MESSAGES };
            Some((Position { originator, sequence_id: v1.id }, v1))
        })
        .collect();
    let last = items.iter().map(|(p, _)| p.sequence_id).max().unwrap_or(0);
    let mut reached = after.clone();
    for originator in GROUP_SERIES {
        reached.advance(Position { originator: *originator, sequence_id: last });
    }
    Page { items, more, reached }
}

/// A V3 page of welcomes, filed under originator 11.
fn v3_welcome_page(
    answer: api::QueryWelcomeMessagesResponse,
    after: &Cursor,
    limit: u32,
) -> Page<api::WelcomeMessage> {
    let more = v3_more(answer.messages.len(), limit, answer.paging_info.as_ref());
    let mut reached = after.clone();
    let items = answer
        .messages
        .into_iter()
        .filter_map(|m| {
            let id = match m.version.as_ref()? {
                api::welcome_message::Version::V1(v1) => v1.id,
                api::welcome_message::Version::WelcomePointer(p) => p.id,
            };
            let position = Position { originator: d14n::WELCOMES, sequence_id: id };
            reached.advance(position);
            Some((position, m))
        })
        .collect();
    Page { items, more, reached }
}

impl Identity {
    pub(crate) async fn publish_identity_update(
        &self,
        request: id_api::PublishIdentityUpdateRequest,
    ) -> Answer<id_api::PublishIdentityUpdateResponse> {
        route!(self.0, identity, publish_identity_update, request)
    }

    pub(crate) async fn get_identity_updates(
        &self,
        request: id_api::GetIdentityUpdatesRequest,
    ) -> Answer<id_api::GetIdentityUpdatesResponse> {
        route!(self.0, identity, get_identity_updates, request)
    }

    pub(crate) async fn get_inbox_ids(
        &self,
        request: id_api::GetInboxIdsRequest,
    ) -> Answer<id_api::GetInboxIdsResponse> {
        route!(self.0, identity, get_inbox_ids, request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_by_name_and_url() {
        assert_eq!(Network::parse("dev").unwrap().url(), "https://grpc.dev.xmtp.network:443");
        assert_eq!(
            Network::parse("production").unwrap().url(),
            "https://grpc.production.xmtp.network:443"
        );
        assert_eq!(
            Network::parse("http://127.0.0.1:5556/").unwrap(),
            Network::Url("http://127.0.0.1:5556".into())
        );
        assert!(Network::parse("ftp://x").is_err());
        let gateway = Network::parse("gateway:http://127.0.0.1:5556/").unwrap();
        assert_eq!(gateway, Network::Gateway("http://127.0.0.1:5556".into()));
        assert_eq!(gateway.to_string(), "gateway:http://127.0.0.1:5556");
        assert_eq!(Network::parse(&gateway.to_string()).unwrap(), gateway);
        assert!(Network::parse("gateway:ftp://x").is_err());
        assert!(matches!(Network::parse("testnet-dev").unwrap(), Network::Gateway(_)));
        assert!(Network::parse("prod").is_err());
    }
}
