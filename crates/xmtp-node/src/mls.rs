//! `xmtp.mls.api.v1.MlsApi`: key packages, welcomes, group messages, subscriptions, commit log.
//!
//! Every request is validated completely before anything is written: a request with one bad item
//! is rejected as a whole (`InvalidArgument`) and stores nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use xmtp_proto::mls_api::{self as api, mls_api_server::MlsApi};
use xmtp_proto::mls_content::{WelcomePointerWrapperAlgorithm, WelcomeWrapperAlgorithm};

use crate::Shared;
use crate::error::storage_status;
use crate::fanout::Fanout;
use crate::rate_limit::over_quota;
use crate::store::{NewCommitLogEntry, NewGroupMessage, NewWelcome, Page, WelcomeKind};
use crate::subscribe::{self, PAGE};
use crate::validate;

/// Most commit-log entries in one `BatchPublishCommitLog` (as the reference node).
const MAX_COMMIT_LOG_PUBLISH: usize = 10;
/// Most groups in one `BatchQueryCommitLog` (as the reference node).
const MAX_COMMIT_LOG_QUERIES: usize = 20;
/// Buffer between a subscription task and the client.
const STREAM_BUFFER: usize = 64;

pub(crate) struct MlsService {
    shared: Shared,
}

impl MlsService {
    pub(crate) fn new(shared: Shared) -> Self {
        Self { shared }
    }

    fn check_count(&self, what: &str, count: usize) -> Result<(), Status> {
        if count == 0 {
            return Err(Status::invalid_argument(format!("no {what} in the request")));
        }
        let max = self.shared.limits.max_items_per_request;
        if count > max {
            return Err(Status::invalid_argument(format!(
                "too many {what} in one request: {count} (at most {max})"
            )));
        }
        Ok(())
    }

    /// Validates and stores group messages (V3 and d14n publishing).
    pub(crate) async fn publish_group_messages(
        &self,
        messages: Vec<api::GroupMessageInput>,
    ) -> Result<(), Status> {
        self.check_count("group messages", messages.len())?;
        let max = self.shared.limits.max_group_message_bytes;
        let mut valid = Vec::with_capacity(messages.len());
        for (i, input) in messages.into_iter().enumerate() {
            let Some(api::group_message_input::Version::V1(v1)) = input.version else {
                return Err(Status::invalid_argument(format!("group message {i}: no v1 content")));
            };
            if v1.data.is_empty() {
                return Err(Status::invalid_argument(format!("group message {i}: empty data")));
            }
            if v1.data.len() > max {
                return Err(Status::invalid_argument(format!(
                    "group message {i}: {} bytes is over the {max}-byte limit",
                    v1.data.len()
                )));
            }
            let info = validate::group_message(&v1.data)
                .map_err(|e| Status::invalid_argument(format!("group message {i}: {e}")))?;
            valid.push(NewGroupMessage {
                group_id: Bytes::from(info.group_id),
                data: v1.data,
                sender_hmac: v1.sender_hmac,
                should_push: v1.should_push,
                is_commit: info.is_commit,
            });
        }
        self.shared.store.insert_group_messages(valid).await.map_err(|e| storage_status(&e))
    }

    /// Validates and stores welcomes (V3 and d14n publishing).
    pub(crate) async fn publish_welcomes(
        &self,
        messages: Vec<api::WelcomeMessageInput>,
    ) -> Result<(), Status> {
        self.check_count("welcome messages", messages.len())?;
        let max = self.shared.limits.max_welcome_bytes;
        let mut valid = Vec::with_capacity(messages.len());
        for (i, input) in messages.into_iter().enumerate() {
            let bad = |reason: &str| Status::invalid_argument(format!("welcome {i}: {reason}"));
            let welcome = match input.version {
                Some(api::welcome_message_input::Version::V1(v1)) => {
                    let symmetric =
                        v1.wrapper_algorithm == WelcomeWrapperAlgorithm::SymmetricKey as i32;
                    if v1.installation_key.is_empty() || v1.data.is_empty() {
                        return Err(bad("installation key and data are required"));
                    }
                    if v1.hpke_public_key.is_empty() && !symmetric {
                        return Err(bad("an HPKE public key is required"));
                    }
                    NewWelcome {
                        kind: WelcomeKind::V1,
                        installation_key: v1.installation_key,
                        data: v1.data,
                        hpke_public_key: v1.hpke_public_key,
                        wrapper_algorithm: v1.wrapper_algorithm,
                        welcome_metadata: v1.welcome_metadata,
                    }
                }
                Some(api::welcome_message_input::Version::WelcomePointer(p)) => {
                    if p.installation_key.is_empty()
                        || p.welcome_pointer.is_empty()
                        || p.hpke_public_key.is_empty()
                    {
                        return Err(bad(
                            "installation key, pointer and HPKE public key are required",
                        ));
                    }
                    if p.wrapper_algorithm
                        != WelcomePointerWrapperAlgorithm::XwingMlkem768Draft6 as i32
                    {
                        return Err(bad("a welcome pointer must be wrapped with X-Wing"));
                    }
                    NewWelcome {
                        kind: WelcomeKind::Pointer,
                        installation_key: p.installation_key,
                        data: p.welcome_pointer,
                        hpke_public_key: p.hpke_public_key,
                        wrapper_algorithm: p.wrapper_algorithm,
                        welcome_metadata: Bytes::new(),
                    }
                }
                None => return Err(bad("no content")),
            };
            let size = welcome.data.len() + welcome.welcome_metadata.len();
            if size > max {
                return Err(bad(&format!("{size} bytes is over the {max}-byte limit")));
            }
            valid.push(welcome);
        }
        let mut per_recipient: std::collections::HashMap<&[u8], f64> = Default::default();
        for welcome in &valid {
            *per_recipient.entry(welcome.installation_key.as_ref()).or_default() += 1.0;
        }
        let now = std::time::Instant::now();
        for (recipient, count) in per_recipient {
            if !self.shared.quotas.welcomes.take(&recipient.to_vec(), count, now) {
                return Err(over_quota("welcomes to one installation"));
            }
        }
        self.shared.store.insert_welcomes(valid).await.map_err(|e| storage_status(&e))
    }

    /// Validates and stores a key package (V3 and d14n publishing); returns its installation
    /// key.
    pub(crate) async fn publish_key_package(
        &self,
        request: api::UploadKeyPackageRequest,
    ) -> Result<Vec<u8>, Status> {
        let bytes = request
            .key_package
            .ok_or_else(|| Status::invalid_argument("no key package"))?
            .key_package_tls_serialized;
        if !request.is_inbox_id_credential {
            return Err(Status::invalid_argument(
                "only key packages with inbox-id credentials are accepted",
            ));
        }
        let max = self.shared.limits.max_key_package_bytes;
        if bytes.len() > max {
            return Err(Status::invalid_argument(format!(
                "key package of {} bytes is over the {max}-byte limit",
                bytes.len()
            )));
        }
        let valid = validate::key_package(&bytes)
            .map_err(|e| Status::invalid_argument(format!("invalid key package: {e}")))?;
        let now = std::time::Instant::now();
        if !self.shared.quotas.key_packages.take(&valid.installation_key.to_vec(), 1.0, now) {
            return Err(over_quota("key packages from one installation"));
        }
        tracing::debug!(installation = %hex::encode(&valid.installation_key), inbox = %valid.inbox_id, "key package stored");
        self.shared
            .store
            .upsert_key_package(valid.installation_key.clone(), valid.inbox_id, bytes.to_vec())
            .await
            .map_err(|e| storage_status(&e))?;
        Ok(valid.installation_key)
    }

    /// Both subscriptions: checks the (topic, cursor) filters, subscribes to `fanout` first, then
    /// replays each topic's backlog after its cursor and goes live with no gap and no repeat.
    fn follow<M, F, Fut>(
        &self,
        topic: &str,
        filters: Vec<(Bytes, u64)>,
        fanout: &Arc<Fanout<M>>,
        backlog: F,
    ) -> Result<Live<M>, Status>
    where
        M: subscribe::Delivered,
        F: Fn(Bytes, u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(Vec<M>, bool), Status>> + Send + 'static,
    {
        let max = self.shared.limits.max_filters_per_subscription;
        if filters.len() > max {
            return Err(Status::invalid_argument(format!(
                "too many filters: {} (at most {max})",
                filters.len()
            )));
        }
        if filters.iter().any(|(t, _)| t.is_empty()) {
            return Err(Status::invalid_argument(format!("a filter has an empty {topic}")));
        }
        let subscription = fanout.subscribe(filters.iter().map(|(t, _)| t.clone()).collect());
        let (out, stream) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(subscribe::run(
            filters,
            subscription,
            backlog,
            out,
            self.shared.stopping.clone(),
        ));
        Ok(Box::pin(ReceiverStream::new(stream)))
    }
}

/// The page a request asks for, with the API's defaults: no direction means descending, a limit
/// of 0 or over 100 means 100.
pub(crate) fn page_of(info: Option<&api::PagingInfo>) -> Page {
    let info = info.cloned().unwrap_or_default();
    let limit = if info.limit == 0 || info.limit > PAGE { PAGE } else { info.limit };
    Page {
        ascending: info.direction == api::SortDirection::Ascending as i32,
        limit,
        cursor: info.id_cursor,
    }
}

/// The paging info of a response: the cursor is set (to the last id) only when the page is full,
/// or was cut short to fit the response size (more follow).
pub(crate) fn paging_reply(
    page: Page,
    returned: usize,
    cut: bool,
    last_id: Option<u64>,
) -> api::PagingInfo {
    let direction =
        if page.ascending { api::SortDirection::Ascending } else { api::SortDirection::Descending };
    api::PagingInfo {
        direction: direction as i32,
        limit: page.limit,
        id_cursor: if cut || returned >= page.limit as usize { last_id.unwrap_or(0) } else { 0 },
    }
}

/// A subscription's response stream.
type Live<M> = Pin<Box<dyn Stream<Item = Result<M, Status>> + Send>>;

#[tonic::async_trait]
impl MlsApi for MlsService {
    async fn send_group_messages(
        &self,
        request: Request<api::SendGroupMessagesRequest>,
    ) -> Result<Response<()>, Status> {
        self.shared.v3_writes_open()?;
        self.publish_group_messages(request.into_inner().messages).await?;
        Ok(Response::new(()))
    }

    async fn send_welcome_messages(
        &self,
        request: Request<api::SendWelcomeMessagesRequest>,
    ) -> Result<Response<()>, Status> {
        self.shared.v3_writes_open()?;
        self.publish_welcomes(request.into_inner().messages).await?;
        Ok(Response::new(()))
    }

    async fn upload_key_package(
        &self,
        request: Request<api::UploadKeyPackageRequest>,
    ) -> Result<Response<()>, Status> {
        self.shared.v3_writes_open()?;
        self.publish_key_package(request.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn fetch_key_packages(
        &self,
        request: Request<api::FetchKeyPackagesRequest>,
    ) -> Result<Response<api::FetchKeyPackagesResponse>, Status> {
        let keys = request.into_inner().installation_keys;
        self.check_count("installation keys", keys.len())?;
        let found = self.shared.store.key_packages(&keys).await.map_err(|e| storage_status(&e))?;
        let key_packages = found
            .into_iter()
            .map(|kp| api::fetch_key_packages_response::KeyPackage {
                key_package_tls_serialized: kp.map(Bytes::from).unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(api::FetchKeyPackagesResponse { key_packages }))
    }

    async fn query_group_messages(
        &self,
        request: Request<api::QueryGroupMessagesRequest>,
    ) -> Result<Response<api::QueryGroupMessagesResponse>, Status> {
        let request = request.into_inner();
        if request.group_id.is_empty() {
            return Err(Status::invalid_argument("a group id is required"));
        }
        let page = page_of(request.paging_info.as_ref());
        let (messages, cut) = self
            .shared
            .store
            .group_messages(&request.group_id, page, self.shared.limits.page_budget())
            .await
            .map_err(|e| storage_status(&e))?;
        let last = messages.last().map(subscribe::Delivered::id);
        let paging_info = Some(paging_reply(page, messages.len(), cut, last));
        Ok(Response::new(api::QueryGroupMessagesResponse { messages, paging_info }))
    }

    async fn query_welcome_messages(
        &self,
        request: Request<api::QueryWelcomeMessagesRequest>,
    ) -> Result<Response<api::QueryWelcomeMessagesResponse>, Status> {
        let request = request.into_inner();
        if request.installation_key.is_empty() {
            return Err(Status::invalid_argument("an installation key is required"));
        }
        let page = page_of(request.paging_info.as_ref());
        let (messages, cut) = self
            .shared
            .store
            .welcomes(&request.installation_key, page, self.shared.limits.page_budget())
            .await
            .map_err(|e| storage_status(&e))?;
        let last = messages.last().map(subscribe::Delivered::id);
        let paging_info = Some(paging_reply(page, messages.len(), cut, last));
        Ok(Response::new(api::QueryWelcomeMessagesResponse { messages, paging_info }))
    }

    type SubscribeGroupMessagesStream = Live<api::GroupMessage>;

    async fn subscribe_group_messages(
        &self,
        request: Request<api::SubscribeGroupMessagesRequest>,
    ) -> Result<Response<Live<api::GroupMessage>>, Status> {
        self.shared.v3_streams_open()?;
        let filters: Vec<(Bytes, u64)> =
            request.into_inner().filters.into_iter().map(|f| (f.group_id, f.id_cursor)).collect();
        let store = self.shared.store.clone();
        let budget = self.shared.limits.page_budget();
        let backlog = move |topic: Bytes, cursor: u64| {
            let store = store.clone();
            async move {
                let page = Page { ascending: true, limit: PAGE, cursor };
                store.group_messages(&topic, page, budget).await.map_err(|e| storage_status(&e))
            }
        };
        self.follow("group id", filters, &self.shared.groups, backlog).map(Response::new)
    }

    type SubscribeWelcomeMessagesStream = Live<api::WelcomeMessage>;

    async fn subscribe_welcome_messages(
        &self,
        request: Request<api::SubscribeWelcomeMessagesRequest>,
    ) -> Result<Response<Live<api::WelcomeMessage>>, Status> {
        self.shared.v3_streams_open()?;
        let filters: Vec<(Bytes, u64)> = request
            .into_inner()
            .filters
            .into_iter()
            .map(|f| (f.installation_key, f.id_cursor))
            .collect();
        if filters.is_empty() {
            return Err(Status::invalid_argument("no filters: an installation key is required"));
        }
        let store = self.shared.store.clone();
        let budget = self.shared.limits.page_budget();
        let backlog = move |topic: Bytes, cursor: u64| {
            let store = store.clone();
            async move {
                let page = Page { ascending: true, limit: PAGE, cursor };
                store.welcomes(&topic, page, budget).await.map_err(|e| storage_status(&e))
            }
        };
        self.follow("installation key", filters, &self.shared.welcomes, backlog).map(Response::new)
    }

    async fn batch_publish_commit_log(
        &self,
        request: Request<api::BatchPublishCommitLogRequest>,
    ) -> Result<Response<()>, Status> {
        self.shared.v3_writes_open()?;
        let requests = request.into_inner().requests;
        if requests.is_empty() {
            return Err(Status::invalid_argument("no commit log entries to publish"));
        }
        if requests.len() > MAX_COMMIT_LOG_PUBLISH {
            return Err(Status::invalid_argument(format!(
                "at most {MAX_COMMIT_LOG_PUBLISH} commit log entries per request"
            )));
        }
        let max = self.shared.limits.max_group_message_bytes;
        let mut entries = Vec::with_capacity(requests.len());
        for (i, entry) in requests.into_iter().enumerate() {
            let Some(signature) = entry.signature else {
                return Err(Status::invalid_argument(format!(
                    "commit log entry {i}: no signature"
                )));
            };
            if entry.group_id.is_empty() || entry.serialized_commit_log_entry.is_empty() {
                return Err(Status::invalid_argument(format!(
                    "commit log entry {i}: group id and entry are required"
                )));
            }
            if entry.serialized_commit_log_entry.len() > max {
                return Err(Status::invalid_argument(format!(
                    "commit log entry {i}: over the {max}-byte limit"
                )));
            }
            entries.push(NewCommitLogEntry {
                group_id: entry.group_id.to_vec(),
                entry: entry.serialized_commit_log_entry.to_vec(),
                signature: prost::Message::encode_to_vec(&signature),
            });
        }
        self.shared.store.insert_commit_log(entries).await.map_err(|e| storage_status(&e))?;
        Ok(Response::new(()))
    }

    async fn batch_query_commit_log(
        &self,
        request: Request<api::BatchQueryCommitLogRequest>,
    ) -> Result<Response<api::BatchQueryCommitLogResponse>, Status> {
        let requests = request.into_inner().requests;
        if requests.is_empty() {
            return Err(Status::invalid_argument("no commit log queries"));
        }
        if requests.len() > MAX_COMMIT_LOG_QUERIES {
            return Err(Status::invalid_argument(format!(
                "at most {MAX_COMMIT_LOG_QUERIES} commit log queries per request"
            )));
        }
        let mut responses = Vec::with_capacity(requests.len());
        for query in requests {
            if query.group_id.is_empty() {
                return Err(Status::invalid_argument("a commit log query has no group id"));
            }
            let info = query.paging_info.unwrap_or_default();
            if info.direction == api::SortDirection::Descending as i32 {
                return Err(Status::invalid_argument("the commit log is read ascending only"));
            }
            let page = Page {
                ascending: true,
                limit: if info.limit == 0 || info.limit > PAGE { PAGE } else { info.limit },
                cursor: info.id_cursor,
            };
            let rows = self
                .shared
                .store
                .commit_log(&query.group_id, page.cursor, page.limit)
                .await
                .map_err(|e| storage_status(&e))?;
            let last = rows.last().map(|r| r.id);
            let paging_info = Some(paging_reply(page, rows.len(), false, last));
            let commit_log_entries = rows
                .into_iter()
                .map(|row| xmtp_proto::mls_content::CommitLogEntry {
                    sequence_id: row.id,
                    serialized_commit_log_entry: row.entry,
                    signature: prost::Message::decode(row.signature.as_slice()).ok(),
                })
                .collect();
            responses.push(api::QueryCommitLogResponse {
                group_id: query.group_id,
                commit_log_entries,
                paging_info,
            });
        }
        Ok(Response::new(api::BatchQueryCommitLogResponse { responses }))
    }

    async fn get_newest_group_message(
        &self,
        request: Request<api::GetNewestGroupMessageRequest>,
    ) -> Result<Response<api::GetNewestGroupMessageResponse>, Status> {
        let request = request.into_inner();
        self.check_count("group ids", request.group_ids.len())?;
        let newest = self
            .shared
            .store
            .newest_group_messages(&request.group_ids, request.include_content)
            .await
            .map_err(|e| storage_status(&e))?;
        let responses = newest
            .into_iter()
            .map(|group_message| api::get_newest_group_message_response::Response { group_message })
            .collect();
        Ok(Response::new(api::GetNewestGroupMessageResponse { responses }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_defaults_follow_the_reference_node() {
        let none = page_of(None);
        assert!(!none.ascending, "no paging info means descending");
        assert_eq!(none.limit, 100);
        let info = api::PagingInfo { direction: 0, limit: 0, id_cursor: 0 };
        assert!(!page_of(Some(&info)).ascending, "UNSPECIFIED means descending");
        let big = api::PagingInfo { direction: 1, limit: 500, id_cursor: 9 };
        let page = page_of(Some(&big));
        assert!(page.ascending);
        assert_eq!((page.limit, page.cursor), (100, 9));
    }

    #[test]
    fn the_cursor_is_returned_only_for_a_full_page() {
        let page = Page { ascending: true, limit: 3, cursor: 0 };
        assert_eq!(paging_reply(page, 3, false, Some(42)).id_cursor, 42);
        assert_eq!(paging_reply(page, 2, false, Some(42)).id_cursor, 0);
        assert_eq!(paging_reply(page, 2, true, Some(42)).id_cursor, 42, "cut short by size");
        assert_eq!(paging_reply(page, 0, false, None).id_cursor, 0);
    }
}
