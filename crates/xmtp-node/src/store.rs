//! SQLite storage.
//!
//! Reads go through a small connection pool (WAL mode lets them run beside writes). Every write
//! goes through a single writer task that owns one connection: it drains whatever requests are
//! queued, applies them in one transaction (so concurrent publishers share one commit), and only
//! after the commit publishes the new messages to live subscribers, in id order. Because ids are
//! assigned by that one task in insert order, "id order" and "commit order" are the same thing,
//! which is what lets subscriptions switch from backlog to live without gaps.
//!
//! Durability: WAL with `synchronous = NORMAL`. A write is acknowledged after its transaction
//! commits; it survives a crash or kill of the node process (the test suite restarts nodes and
//! checks). An operating-system crash or power loss can lose the last transactions.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use xmtp_identity::{AssociationState, IdentityError, MemberIdentifier};
use xmtp_proto::associations::IdentityUpdate;
use xmtp_proto::mls_api::{GroupMessage, WelcomeMessage, group_message, welcome_message};

use crate::config::Clock;
use crate::error::NodeError;
use crate::fanout::Fanout;

/// Most queued writes applied in one transaction.
const MAX_BATCH: usize = 512;

/// A group message to store; `group_id` and `is_commit` come from validation.
#[derive(Debug, Clone)]
pub(crate) struct NewGroupMessage {
    pub(crate) group_id: Bytes,
    pub(crate) data: Bytes,
    pub(crate) sender_hmac: Bytes,
    pub(crate) should_push: bool,
    pub(crate) is_commit: bool,
}

/// The two kinds of welcome the node stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WelcomeKind {
    /// `WelcomeMessage.V1`: `data` is the sealed welcome.
    V1 = 0,
    /// `WelcomeMessage.WelcomePointer`: `data` is the sealed pointer.
    Pointer = 1,
}

/// A welcome to store.
#[derive(Debug, Clone)]
pub(crate) struct NewWelcome {
    pub(crate) kind: WelcomeKind,
    pub(crate) installation_key: Bytes,
    pub(crate) data: Bytes,
    pub(crate) hpke_public_key: Bytes,
    pub(crate) wrapper_algorithm: i32,
    pub(crate) welcome_metadata: Bytes,
}

/// A commit-log entry to store (opaque to the node).
#[derive(Debug, Clone)]
pub(crate) struct NewCommitLogEntry {
    pub(crate) group_id: Vec<u8>,
    pub(crate) entry: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

/// A stored commit-log entry.
#[derive(Debug, Clone)]
pub(crate) struct CommitLogRow {
    pub(crate) id: u64,
    pub(crate) entry: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

/// A stored key package as the decentralized network sees it.
#[derive(Debug, Clone)]
pub(crate) struct KeyPackageRow {
    pub(crate) sequence_id: u64,
    pub(crate) updated_ns: u64,
    pub(crate) key_package: Vec<u8>,
}

/// A stored identity update.
#[derive(Debug, Clone)]
pub(crate) struct InboxLogRow {
    pub(crate) sequence_id: u64,
    pub(crate) server_timestamp_ns: u64,
    pub(crate) update: IdentityUpdate,
}

/// Why an identity update was not stored.
#[derive(Debug)]
pub(crate) enum IdentityWriteError {
    /// It does not verify against the inbox's log.
    Invalid(IdentityError),
    /// The inbox's log already has the maximum number of entries.
    LogFull(usize),
    /// Storage failed.
    Storage(NodeError),
}

/// Which way a page of results goes, and from where.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    pub(crate) ascending: bool,
    pub(crate) limit: u32,
    pub(crate) cursor: u64,
}

type Reply<T> = oneshot::Sender<Result<T, NodeError>>;

/// Timestamps for stored rows: the clock, but strictly increasing from row to row, so that
/// ordering by time (as d14n clients do before their causal sort) is ordering by id.
struct Stamp {
    next: i64,
}

impl Stamp {
    fn take(&mut self) -> i64 {
        let now = self.next;
        self.next = self.next.saturating_add(1);
        now
    }
}

enum Write {
    GroupMessages(Vec<NewGroupMessage>, Reply<()>),
    Welcomes(Vec<NewWelcome>, Reply<()>),
    KeyPackage {
        installation_key: Vec<u8>,
        inbox_id: String,
        key_package: Vec<u8>,
        done: Reply<()>,
    },
    IdentityUpdate {
        update: IdentityUpdate,
        max_log_entries: usize,
        done: oneshot::Sender<Result<(), IdentityWriteError>>,
    },
    CommitLog(Vec<NewCommitLogEntry>, Reply<()>),
}

/// The node's database.
#[derive(Clone)]
pub(crate) struct Store {
    reads: SqlitePool,
    writes: mpsc::Sender<Write>,
    groups: Arc<Fanout<GroupMessage>>,
    welcomes: Arc<Fanout<WelcomeMessage>>,
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn content_hash(topic: &[u8], data: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(topic);
    hasher.update(data);
    hasher.finalize().to_vec()
}

fn options(path: &Path) -> Result<SqliteConnectOptions, NodeError> {
    let url = format!("sqlite://{}", path.display());
    Ok(SqliteConnectOptions::from_str(&url)
        .map_err(|e| NodeError::Config(format!("database path {}: {e}", path.display())))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10)))
}

impl Store {
    /// Opens (creating and migrating if needed) the database at `path` and starts the writer.
    pub(crate) async fn open(
        path: &Path,
        clock: Clock,
    ) -> Result<(Self, JoinHandle<()>), NodeError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                NodeError::Io(format!("cannot create the directory {}: {e}", dir.display()))
            })?;
        }
        let mut writer = SqliteConnection::connect_with(&options(path)?).await?;
        // `run_direct` rather than `run(&mut writer)`: the latter's `Acquire` bound makes this
        // future not `Send` for every lifetime, so it could not be spawned (the desktop app does).
        sqlx::migrate!()
            .run_direct(None, &mut writer, false)
            .await
            .map_err(|e| NodeError::Storage(format!("migrating {}: {e}", path.display())))?;
        let reads = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options(path)?)
            .await?;
        let groups = Arc::new(Fanout::default());
        let welcomes = Arc::new(Fanout::default());
        let (writes, queue) = mpsc::channel(4 * MAX_BATCH);
        let task = tokio::spawn(run_writer(writer, queue, clock, groups.clone(), welcomes.clone()));
        Ok((Self { reads, writes, groups, welcomes }, task))
    }

    /// Subscribers of group messages, by group id.
    pub(crate) fn group_fanout(&self) -> Arc<Fanout<GroupMessage>> {
        self.groups.clone()
    }

    /// Subscribers of welcomes, by installation key.
    pub(crate) fn welcome_fanout(&self) -> Arc<Fanout<WelcomeMessage>> {
        self.welcomes.clone()
    }

    /// Closes the read pool. The writer stops once every `Store` clone is gone and its queue is
    /// drained.
    pub(crate) async fn close(&self) {
        self.reads.close().await;
    }

    async fn write<T>(&self, make: impl FnOnce(Reply<T>) -> Write) -> Result<T, NodeError> {
        let (done, result) = oneshot::channel();
        self.writes
            .send(make(done))
            .await
            .map_err(|_| NodeError::Internal("the writer has stopped".into()))?;
        result.await.map_err(|_| NodeError::Internal("the writer dropped a request".into()))?
    }

    /// Stores group messages (duplicates are skipped silently) and publishes the new ones.
    pub(crate) async fn insert_group_messages(
        &self,
        messages: Vec<NewGroupMessage>,
    ) -> Result<(), NodeError> {
        self.write(|done| Write::GroupMessages(messages, done)).await
    }

    /// Stores welcomes (duplicates are skipped silently) and publishes the new ones.
    pub(crate) async fn insert_welcomes(&self, welcomes: Vec<NewWelcome>) -> Result<(), NodeError> {
        self.write(|done| Write::Welcomes(welcomes, done)).await
    }

    /// Makes `key_package` the one served for `installation_key`.
    pub(crate) async fn upsert_key_package(
        &self,
        installation_key: Vec<u8>,
        inbox_id: String,
        key_package: Vec<u8>,
    ) -> Result<(), NodeError> {
        self.write(|done| Write::KeyPackage { installation_key, inbox_id, key_package, done }).await
    }

    /// Verifies `update` against its inbox's log and appends it.
    pub(crate) async fn append_identity_update(
        &self,
        update: IdentityUpdate,
        max_log_entries: usize,
    ) -> Result<(), IdentityWriteError> {
        let (done, result) = oneshot::channel();
        let request = Write::IdentityUpdate { update, max_log_entries, done };
        if self.writes.send(request).await.is_err() {
            return Err(IdentityWriteError::Storage(NodeError::Internal(
                "the writer has stopped".into(),
            )));
        }
        result.await.unwrap_or_else(|_| {
            Err(IdentityWriteError::Storage(NodeError::Internal(
                "the writer dropped a request".into(),
            )))
        })
    }

    /// Stores commit-log entries.
    pub(crate) async fn insert_commit_log(
        &self,
        entries: Vec<NewCommitLogEntry>,
    ) -> Result<(), NodeError> {
        self.write(|done| Write::CommitLog(entries, done)).await
    }

    /// A page of a group's messages, at most `budget` bytes of them (at least one); `true`
    /// when the budget cut the page short.
    pub(crate) async fn group_messages(
        &self,
        group_id: &[u8],
        page: Page,
        budget: usize,
    ) -> Result<(Vec<GroupMessage>, bool), NodeError> {
        let sql = if page.ascending { GROUP_PAGE_ASC } else { GROUP_PAGE_DESC };
        let rows = self.page_rows(sql, group_id, page).await?;
        self.group_page(&rows, budget).await
    }

    /// Group-message rows (from a page query) as messages, until `budget` bytes are spent;
    /// `true` when the budget cut the page short.
    async fn group_page(
        &self,
        rows: &[sqlx::sqlite::SqliteRow],
        budget: usize,
    ) -> Result<(Vec<GroupMessage>, bool), NodeError> {
        let mut reader = SizedPage::new(budget);
        let mut messages = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.get("id");
            let Some(data) =
                reader.take(self, r, "SELECT data FROM group_messages WHERE id = ?", id).await?
            else {
                break;
            };
            let row = GroupRow {
                id,
                created_ns: r.get("created_ns"),
                group_id: r.get("group_id"),
                data,
                sender_hmac: r.get("sender_hmac"),
                should_push: r.get("should_push"),
                is_commit: r.get("is_commit"),
            };
            messages.push(row.into_proto());
        }
        Ok((messages, reader.cut))
    }

    /// The rows of a page, with small payloads inline (see [`SizedPage`]).
    async fn page_rows(
        &self,
        sql: &'static str,
        key: &[u8],
        page: Page,
    ) -> Result<Vec<sqlx::sqlite::SqliteRow>, NodeError> {
        Ok(sqlx::query(sql)
            .bind(key)
            .bind(page_cursor(page))
            .bind(i64::from(page.limit))
            .bind(INLINE_BYTES)
            .fetch_all(&self.reads)
            .await?)
    }

    /// The newest message of each group, in the order asked (`None` for an empty group).
    /// Without `content` only the id, timestamp, group id and commit flag are filled in.
    pub(crate) async fn newest_group_messages(
        &self,
        group_ids: &[Bytes],
        content: bool,
    ) -> Result<Vec<Option<GroupMessage>>, NodeError> {
        let mut conn = self.reads.acquire().await?;
        let mut out = Vec::with_capacity(group_ids.len());
        for group_id in group_ids {
            let group_id = group_id.as_ref();
            let row = sqlx::query_as!(
                GroupRow,
                r#"SELECT id, created_ns, group_id, data, sender_hmac,
                          should_push AS "should_push: bool", is_commit AS "is_commit: bool"
                   FROM group_messages WHERE group_id = ?1 ORDER BY id DESC LIMIT 1"#,
                group_id
            )
            .fetch_optional(&mut *conn)
            .await?;
            out.push(row.map(|mut row| {
                if !content {
                    row.data = Vec::new();
                    row.sender_hmac = Vec::new();
                    row.should_push = false;
                }
                row.into_proto()
            }));
        }
        Ok(out)
    }

    /// A page of an installation's welcomes, at most `budget` bytes of them (at least one);
    /// `true` when the budget cut the page short.
    pub(crate) async fn welcomes(
        &self,
        installation_key: &[u8],
        page: Page,
        budget: usize,
    ) -> Result<(Vec<WelcomeMessage>, bool), NodeError> {
        let sql = if page.ascending { WELCOME_PAGE_ASC } else { WELCOME_PAGE_DESC };
        let rows = self.page_rows(sql, installation_key, page).await?;
        self.welcome_page(&rows, budget).await
    }

    /// A d14n page of welcomes: after id `after`, or with `own` = (from, next) those stored
    /// from `from` on only when created at `next` or later (see `group_messages_after`).
    pub(crate) async fn welcomes_after(
        &self,
        installation_key: &[u8],
        after: u64,
        own: Option<(u64, u64)>,
        limit: u32,
        budget: usize,
    ) -> Result<(Vec<WelcomeMessage>, bool), NodeError> {
        let (own_from, own_next) = own.unwrap_or((u64::MAX, u64::MAX));
        let rows = sqlx::query(WELCOME_PAGE_D14N)
            .bind(installation_key)
            .bind(to_i64(after))
            .bind(i64::from(limit))
            .bind(INLINE_BYTES)
            .bind(to_i64(own_from))
            .bind(to_i64(own_next))
            .fetch_all(&self.reads)
            .await?;
        self.welcome_page(&rows, budget).await
    }

    async fn welcome_page(
        &self,
        rows: &[sqlx::sqlite::SqliteRow],
        budget: usize,
    ) -> Result<(Vec<WelcomeMessage>, bool), NodeError> {
        let mut reader = SizedPage::new(budget);
        let mut messages = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.get("id");
            let Some(data) =
                reader.take(self, r, "SELECT data FROM welcome_messages WHERE id = ?", id).await?
            else {
                break;
            };
            let row = WelcomeRow {
                id,
                created_ns: r.get("created_ns"),
                installation_key: r.get("installation_key"),
                message_type: r.get("message_type"),
                data,
                hpke_public_key: r.get("hpke_public_key"),
                wrapper_algorithm: r.get("wrapper_algorithm"),
                welcome_metadata: r.get("welcome_metadata"),
            };
            messages.push(row.into_proto());
        }
        Ok((messages, reader.cut))
    }

    /// The stored key package of each installation, in the order asked.
    pub(crate) async fn key_packages(
        &self,
        installation_keys: &[Bytes],
    ) -> Result<Vec<Option<Vec<u8>>>, NodeError> {
        let mut conn = self.reads.acquire().await?;
        let mut out = Vec::with_capacity(installation_keys.len());
        for key in installation_keys {
            let key = key.as_ref();
            let row = sqlx::query_scalar!(
                "SELECT key_package FROM key_packages WHERE installation_key = ?1",
                key
            )
            .fetch_optional(&mut *conn)
            .await?;
            out.push(row);
        }
        Ok(out)
    }

    /// An inbox's identity updates after `after` (its sequence id), ascending.
    pub(crate) async fn identity_updates(
        &self,
        inbox_id: &str,
        after: u64,
    ) -> Result<Vec<InboxLogRow>, NodeError> {
        let after = to_i64(after);
        let rows = sqlx::query!(
            "SELECT sequence_id, server_timestamp_ns, identity_update FROM inbox_log
             WHERE inbox_id = ?1 AND sequence_id > ?2 ORDER BY sequence_id ASC",
            inbox_id,
            after
        )
        .fetch_all(&self.reads)
        .await?;
        rows.into_iter()
            .map(|row| {
                let update =
                    IdentityUpdate::decode(row.identity_update.as_slice()).map_err(|e| {
                        NodeError::Storage(format!("stored identity update is corrupt: {e}"))
                    })?;
                Ok(InboxLogRow {
                    sequence_id: to_u64(row.sequence_id),
                    server_timestamp_ns: to_u64(row.server_timestamp_ns),
                    update,
                })
            })
            .collect()
    }

    /// The inbox an identifier currently belongs to.
    pub(crate) async fn inbox_for(&self, identifier: &str) -> Result<Option<String>, NodeError> {
        Ok(sqlx::query_scalar!(
            "SELECT inbox_id FROM identifier_log
             WHERE identifier = ?1 AND revocation_sequence_id IS NULL
             ORDER BY association_sequence_id DESC LIMIT 1",
            identifier
        )
        .fetch_optional(&self.reads)
        .await?)
    }

    /// The next page of a group's messages for a d14n cursor: commits after `after_commit`
    /// and application messages after `after_application`, in id order.
    /// A d14n page of a group: commits after id `after_commit`; application messages after id
    /// `after_application`, or with `own` = (from, next) those stored from `from` on only when
    /// created at `next` or later (the node's own numbering, by time).
    pub(crate) async fn group_messages_after(
        &self,
        group_id: &[u8],
        after_commit: u64,
        after_application: u64,
        own: Option<(u64, u64)>,
        limit: u32,
        budget: usize,
    ) -> Result<(Vec<GroupMessage>, bool), NodeError> {
        let sql = if own.is_some() { GROUP_PAGE_D14N_OWN } else { GROUP_PAGE_D14N };
        let query = sqlx::query(sql)
            .bind(group_id)
            .bind(to_i64(after_commit))
            .bind(i64::from(limit))
            .bind(INLINE_BYTES)
            .bind(to_i64(after_application));
        let query = match own {
            Some((from, next)) => query.bind(to_i64(from)).bind(to_i64(next)),
            None => query,
        };
        let rows = query.fetch_all(&self.reads).await?;
        self.group_page(&rows, budget).await
    }

    /// The stored group message with this content (what a publish just stored, or its
    /// earlier duplicate).
    pub(crate) async fn group_message_with(
        &self,
        group_id: &[u8],
        data: &[u8],
    ) -> Result<Option<GroupMessage>, NodeError> {
        let row = sqlx::query(
            "SELECT id, created_ns, is_commit, should_push FROM group_messages
             WHERE content_hash = ?1",
        )
        .bind(content_hash(group_id, data))
        .fetch_optional(&self.reads)
        .await?;
        Ok(row.map(|r| {
            GroupRow {
                id: r.get("id"),
                created_ns: r.get("created_ns"),
                group_id: group_id.to_vec(),
                data: data.to_vec(),
                sender_hmac: Vec::new(),
                should_push: r.get("should_push"),
                is_commit: r.get("is_commit"),
            }
            .into_proto()
        }))
    }

    /// The id and timestamp of the stored welcome with this content.
    pub(crate) async fn welcome_with(
        &self,
        installation_key: &[u8],
        data: &[u8],
    ) -> Result<Option<(u64, u64)>, NodeError> {
        let row =
            sqlx::query("SELECT id, created_ns FROM welcome_messages WHERE content_hash = ?1")
                .bind(content_hash(installation_key, data))
                .fetch_optional(&self.reads)
                .await?;
        Ok(row.map(|r| (to_u64(r.get("id")), to_u64(r.get("created_ns")))))
    }

    /// The sequence id and timestamp of an inbox's newest log entry equal to `update`.
    pub(crate) async fn identity_update_with(
        &self,
        inbox_id: &str,
        update: &IdentityUpdate,
    ) -> Result<Option<(u64, u64)>, NodeError> {
        let row = sqlx::query(
            "SELECT sequence_id, server_timestamp_ns FROM inbox_log
             WHERE inbox_id = ?1 AND identity_update = ?2 ORDER BY sequence_id DESC LIMIT 1",
        )
        .bind(inbox_id)
        .bind(update.encode_to_vec())
        .fetch_optional(&self.reads)
        .await?;
        Ok(row.map(|r| (to_u64(r.get("sequence_id")), to_u64(r.get("server_timestamp_ns")))))
    }

    /// An installation's key package with its sequence id and upload time.
    pub(crate) async fn key_package_entry(
        &self,
        installation_key: &[u8],
    ) -> Result<Option<KeyPackageRow>, NodeError> {
        let row = sqlx::query(
            "SELECT sequence_id, updated_ns, key_package FROM key_packages
             WHERE installation_key = ?1",
        )
        .bind(installation_key)
        .fetch_optional(&self.reads)
        .await?;
        Ok(row.map(|r| KeyPackageRow {
            sequence_id: to_u64(r.get("sequence_id")),
            updated_ns: to_u64(r.get("updated_ns")),
            key_package: r.get("key_package"),
        }))
    }

    /// The key this node signs originator envelopes with: `configured` if given, else the one
    /// kept in the database, else a new one (kept from then on).
    pub(crate) async fn originator_key(
        &self,
        configured: Option<[u8; 32]>,
    ) -> Result<xmtp_identity::WalletKey, NodeError> {
        let bad = |_| NodeError::Config("the originator key is not a valid secp256k1 key".into());
        if let Some(secret) = configured {
            return xmtp_identity::WalletKey::from_bytes(&secret).map_err(bad);
        }
        let stored: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT secret FROM node_key WHERE id = 1")
                .fetch_optional(&self.reads)
                .await?;
        if let Some(secret) = stored {
            let secret: [u8; 32] = secret.as_slice().try_into().map_err(|_| {
                NodeError::Storage("the stored originator key is not 32 bytes".into())
            })?;
            return xmtp_identity::WalletKey::from_bytes(&secret).map_err(bad);
        }
        let key = xmtp_identity::WalletKey::generate(&mut rand::rngs::OsRng);
        // Two nodes starting on one database at once: the first key stored wins.
        sqlx::query("INSERT OR IGNORE INTO node_key (id, secret) VALUES (1, ?1)")
            .bind(key.to_bytes().to_vec())
            .execute(&self.reads)
            .await?;
        let secret: Vec<u8> = sqlx::query_scalar("SELECT secret FROM node_key WHERE id = 1")
            .fetch_one(&self.reads)
            .await?;
        let secret: [u8; 32] = secret
            .as_slice()
            .try_into()
            .map_err(|_| NodeError::Storage("the stored originator key is not 32 bytes".into()))?;
        xmtp_identity::WalletKey::from_bytes(&secret).map_err(bad)
    }

    /// A page of a group's commit log, ascending.
    pub(crate) async fn commit_log(
        &self,
        group_id: &[u8],
        cursor: u64,
        limit: u32,
    ) -> Result<Vec<CommitLogRow>, NodeError> {
        let (cursor, limit) = (to_i64(cursor), i64::from(limit));
        let rows = sqlx::query!(
            "SELECT id, entry, signature FROM commit_log
             WHERE group_id = ?1 AND id > ?2 ORDER BY id ASC LIMIT ?3",
            group_id,
            cursor,
            limit
        )
        .fetch_all(&self.reads)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| CommitLogRow { id: to_u64(r.id), entry: r.entry, signature: r.signature })
            .collect())
    }
}

/// The cursor bound of a page: descending with no cursor starts at the newest.
fn page_cursor(page: Page) -> i64 {
    match (page.ascending, page.cursor) {
        (false, 0) => i64::MAX,
        (_, cursor) => to_i64(cursor),
    }
}

/// Payloads up to this size come with the page's rows; larger ones are read one by one, and
/// only while they fit the page's byte budget, so a page of large messages is never read into
/// memory whole.
const INLINE_BYTES: i64 = 256 * 1024;

/// Reads a page's rows in order until its byte budget is spent (always at least one row).
struct SizedPage {
    budget: i64,
    total: i64,
    taken: usize,
    /// The budget cut the page short: more rows follow.
    cut: bool,
}

impl SizedPage {
    fn new(budget: usize) -> Self {
        Self { budget: i64::try_from(budget).unwrap_or(i64::MAX), total: 0, taken: 0, cut: false }
    }

    /// The row's payload if it still fits (read now if it was too large to come inline);
    /// `None` once the budget is spent.
    async fn take(
        &mut self,
        store: &Store,
        row: &sqlx::sqlite::SqliteRow,
        fetch: &'static str,
        id: i64,
    ) -> Result<Option<Vec<u8>>, NodeError> {
        self.total = self.total.saturating_add(row.get::<i64, _>("size"));
        if self.taken > 0 && self.total > self.budget {
            self.cut = true;
            return Ok(None);
        }
        self.taken += 1;
        Ok(Some(match row.get::<Option<Vec<u8>>, _>("data") {
            Some(data) => data,
            None => sqlx::query_scalar(fetch).bind(id).fetch_one(&store.reads).await?,
        }))
    }
}

// A page: the next `?3` rows after cursor `?2`, payloads up to `?4` bytes inline, and each row's
// size in a response.
const GROUP_PAGE_ASC: &str = "SELECT id, created_ns, group_id, sender_hmac, should_push, is_commit,
    CASE WHEN length(data) <= ?4 THEN data END AS data,
    length(data) + length(sender_hmac) + 64 AS size
    FROM group_messages WHERE group_id = ?1 AND id > ?2 ORDER BY id ASC LIMIT ?3";
const GROUP_PAGE_DESC: &str =
    "SELECT id, created_ns, group_id, sender_hmac, should_push, is_commit,
    CASE WHEN length(data) <= ?4 THEN data END AS data,
    length(data) + length(sender_hmac) + 64 AS size
    FROM group_messages WHERE group_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";
// A d14n page of a group: commits after `?2`, application messages after `?5`. Each kind is
// one range of the (group, kind, id) index, so a cursor far behind on one kind (commits are
// rare) costs no scan of the other's rows.
const GROUP_PAGE_D14N: &str = "SELECT * FROM (
    SELECT id, created_ns, group_id, sender_hmac, should_push, is_commit,
        CASE WHEN length(data) <= ?4 THEN data END AS data,
        length(data) + length(sender_hmac) + 64 AS size
    FROM group_messages WHERE group_id = ?1 AND is_commit = 1 AND id > ?2
    ORDER BY id ASC LIMIT ?3)
    UNION ALL SELECT * FROM (
    SELECT id, created_ns, group_id, sender_hmac, should_push, is_commit,
        CASE WHEN length(data) <= ?4 THEN data END AS data,
        length(data) + length(sender_hmac) + 64 AS size
    FROM group_messages WHERE group_id = ?1 AND is_commit = 0 AND id > ?5
    ORDER BY id ASC LIMIT ?3)
    ORDER BY id ASC LIMIT ?3";
// With the node's own numbering (a test mode): commits after `?2`; application messages created
// before `?6` after `?5`, and those created from `?6` on if created at `?7` or later.
const GROUP_PAGE_D14N_OWN: &str =
    "SELECT id, created_ns, group_id, sender_hmac, should_push, is_commit,
    CASE WHEN length(data) <= ?4 THEN data END AS data,
    length(data) + length(sender_hmac) + 64 AS size
    FROM group_messages
    WHERE group_id = ?1 AND ((is_commit AND id > ?2)
        OR (NOT is_commit AND created_ns < ?6 AND id > ?5)
        OR (NOT is_commit AND created_ns >= ?6 AND created_ns >= ?7))
    ORDER BY id ASC LIMIT ?3";
// A d14n page of welcomes: created before `?5` after `?2`, from `?5` on if created at `?6` or
// later.
const WELCOME_PAGE_D14N: &str = "SELECT id, created_ns, installation_key, message_type,
    hpke_public_key, wrapper_algorithm, welcome_metadata,
    CASE WHEN length(data) <= ?4 THEN data END AS data,
    length(data) + length(hpke_public_key) + length(welcome_metadata) + 96 AS size
    FROM welcome_messages WHERE installation_key = ?1
        AND ((created_ns < ?5 AND id > ?2) OR (created_ns >= ?5 AND created_ns >= ?6))
    ORDER BY id ASC LIMIT ?3";
const WELCOME_PAGE_ASC: &str = "SELECT id, created_ns, installation_key, message_type,
    hpke_public_key, wrapper_algorithm, welcome_metadata,
    CASE WHEN length(data) <= ?4 THEN data END AS data,
    length(data) + length(hpke_public_key) + length(welcome_metadata) + 96 AS size
    FROM welcome_messages WHERE installation_key = ?1 AND id > ?2 ORDER BY id ASC LIMIT ?3";
const WELCOME_PAGE_DESC: &str = "SELECT id, created_ns, installation_key, message_type,
    hpke_public_key, wrapper_algorithm, welcome_metadata,
    CASE WHEN length(data) <= ?4 THEN data END AS data,
    length(data) + length(hpke_public_key) + length(welcome_metadata) + 96 AS size
    FROM welcome_messages WHERE installation_key = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";

struct GroupRow {
    id: i64,
    created_ns: i64,
    group_id: Vec<u8>,
    data: Vec<u8>,
    sender_hmac: Vec<u8>,
    should_push: bool,
    is_commit: bool,
}

impl GroupRow {
    fn into_proto(self) -> GroupMessage {
        GroupMessage {
            version: Some(group_message::Version::V1(group_message::V1 {
                id: to_u64(self.id),
                created_ns: to_u64(self.created_ns),
                group_id: self.group_id.into(),
                data: self.data.into(),
                sender_hmac: self.sender_hmac.into(),
                should_push: self.should_push,
                is_commit: self.is_commit,
            })),
        }
    }
}

struct WelcomeRow {
    id: i64,
    created_ns: i64,
    installation_key: Vec<u8>,
    message_type: i64,
    data: Vec<u8>,
    hpke_public_key: Vec<u8>,
    wrapper_algorithm: i64,
    welcome_metadata: Vec<u8>,
}

impl WelcomeRow {
    fn into_proto(self) -> WelcomeMessage {
        let algorithm = i32::try_from(self.wrapper_algorithm).unwrap_or(0);
        let version = if self.message_type == WelcomeKind::Pointer as i64 {
            welcome_message::Version::WelcomePointer(welcome_message::WelcomePointer {
                id: to_u64(self.id),
                created_ns: to_u64(self.created_ns),
                installation_key: self.installation_key.into(),
                welcome_pointer: self.data.into(),
                hpke_public_key: self.hpke_public_key.into(),
                wrapper_algorithm: algorithm,
            })
        } else {
            welcome_message::Version::V1(welcome_message::V1 {
                id: to_u64(self.id),
                created_ns: to_u64(self.created_ns),
                installation_key: self.installation_key.into(),
                data: self.data.into(),
                hpke_public_key: self.hpke_public_key.into(),
                wrapper_algorithm: algorithm,
                welcome_metadata: self.welcome_metadata.into(),
            })
        };
        WelcomeMessage { version: Some(version) }
    }
}

/// What one transaction produced, to publish after it commits.
#[derive(Default)]
struct Published {
    groups: Vec<GroupMessage>,
    welcomes: Vec<WelcomeMessage>,
}

/// The reply owed to one queued write.
enum Outcome {
    Plain(Reply<()>),
    Identity(oneshot::Sender<Result<(), IdentityWriteError>>, Result<(), IdentityWriteError>),
}

async fn run_writer(
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<Write>,
    clock: Clock,
    groups: Arc<Fanout<GroupMessage>>,
    welcomes: Arc<Fanout<WelcomeMessage>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Where the last run's stamps ended, so a clock set back does not reorder new rows.
    let mut last = sqlx::query_scalar::<_, Option<i64>>(
        "SELECT max(t) FROM (SELECT max(created_ns) AS t FROM group_messages
         UNION ALL SELECT max(created_ns) FROM welcome_messages
         UNION ALL SELECT max(server_timestamp_ns) FROM inbox_log
         UNION ALL SELECT max(updated_ns) FROM key_packages)",
    )
    .fetch_one(&mut conn)
    .await
    .ok()
    .flatten()
    .unwrap_or(0);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut stamp = Stamp { next: to_i64(clock()).max(last.saturating_add(1)) };
        let mut published = Published::default();
        let mut outcomes = Vec::with_capacity(batch.len());
        let result =
            apply(&mut conn, batch.drain(..), &mut stamp, &mut published, &mut outcomes).await;
        last = stamp.next - 1;
        match result {
            Ok(()) => {
                for message in &published.groups {
                    if let Some(group_message::Version::V1(v1)) = &message.version {
                        groups.publish(&v1.group_id, message);
                    }
                }
                for message in &published.welcomes {
                    welcomes.publish(welcome_topic(message), message);
                }
                for outcome in outcomes {
                    match outcome {
                        Outcome::Plain(done) => {
                            let _ = done.send(Ok(()));
                        }
                        Outcome::Identity(done, result) => {
                            let _ = done.send(result);
                        }
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "a write transaction failed; nothing in it was stored");
                for outcome in outcomes {
                    match outcome {
                        Outcome::Plain(done) => {
                            let _ = done.send(Err(NodeError::Storage(error.to_string())));
                        }
                        Outcome::Identity(done, _) => {
                            let _ = done.send(Err(IdentityWriteError::Storage(
                                NodeError::Storage(error.to_string()),
                            )));
                        }
                    }
                }
            }
        }
    }
    if let Err(error) = conn.close().await {
        tracing::warn!(%error, "closing the database");
    }
}

fn welcome_topic(message: &WelcomeMessage) -> &[u8] {
    match &message.version {
        Some(welcome_message::Version::V1(v1)) => &v1.installation_key,
        Some(welcome_message::Version::WelcomePointer(p)) => &p.installation_key,
        None => &[],
    }
}

/// Applies a batch of writes in one transaction. Every write's reply goes into `outcomes` (also
/// on error, so the caller can fail them all).
async fn apply(
    conn: &mut SqliteConnection,
    batch: impl Iterator<Item = Write>,
    stamp: &mut Stamp,
    published: &mut Published,
    outcomes: &mut Vec<Outcome>,
) -> Result<(), sqlx::Error> {
    let mut tx = match conn.begin().await {
        Ok(tx) => tx,
        Err(error) => {
            outcomes.extend(batch.map(Write::into_outcome));
            return Err(error);
        }
    };
    let mut failure = None;
    for write in batch {
        if failure.is_some() {
            outcomes.push(write.into_outcome());
            continue;
        }
        let result = match write {
            Write::GroupMessages(messages, done) => {
                outcomes.push(Outcome::Plain(done));
                insert_group_messages(&mut tx, messages, stamp, published).await
            }
            Write::Welcomes(welcomes, done) => {
                outcomes.push(Outcome::Plain(done));
                insert_welcomes(&mut tx, welcomes, stamp, published).await
            }
            Write::KeyPackage { installation_key, inbox_id, key_package, done } => {
                outcomes.push(Outcome::Plain(done));
                sqlx::query(
                    "INSERT INTO key_packages
                        (installation_key, inbox_id, key_package, updated_ns, sequence_id)
                     VALUES (?1, ?2, ?3, ?4,
                             (SELECT coalesce(max(sequence_id), 0) + 1 FROM key_packages))
                     ON CONFLICT (installation_key) DO UPDATE SET
                        inbox_id = excluded.inbox_id, key_package = excluded.key_package,
                        updated_ns = excluded.updated_ns, sequence_id = excluded.sequence_id",
                )
                .bind(installation_key)
                .bind(inbox_id)
                .bind(key_package)
                .bind(stamp.take())
                .execute(&mut *tx)
                .await
                .map(|_| ())
            }
            Write::IdentityUpdate { update, max_log_entries, done } => {
                match append_identity_update(&mut tx, &update, max_log_entries, stamp).await {
                    Ok(result) => {
                        outcomes.push(Outcome::Identity(done, result));
                        Ok(())
                    }
                    Err(error) => {
                        outcomes.push(Outcome::Identity(done, Ok(())));
                        Err(error)
                    }
                }
            }
            Write::CommitLog(entries, done) => {
                outcomes.push(Outcome::Plain(done));
                insert_commit_log(&mut tx, entries).await
            }
        };
        if let Err(error) = result {
            failure = Some(error);
        }
    }
    match failure {
        Some(error) => {
            let _ = tx.rollback().await;
            published.groups.clear();
            published.welcomes.clear();
            Err(error)
        }
        None => tx.commit().await,
    }
}

impl Write {
    fn into_outcome(self) -> Outcome {
        match self {
            Self::GroupMessages(_, done)
            | Self::Welcomes(_, done)
            | Self::KeyPackage { done, .. }
            | Self::CommitLog(_, done) => Outcome::Plain(done),
            Self::IdentityUpdate { done, .. } => Outcome::Identity(done, Ok(())),
        }
    }
}

async fn insert_group_messages(
    tx: &mut SqliteConnection,
    messages: Vec<NewGroupMessage>,
    stamp: &mut Stamp,
    published: &mut Published,
) -> Result<(), sqlx::Error> {
    for m in messages {
        let now = stamp.take();
        let hash = content_hash(&m.group_id, &m.data);
        let (group_id, data, hmac) = (m.group_id.as_ref(), m.data.as_ref(), m.sender_hmac.as_ref());
        let id = sqlx::query_scalar!(
            "INSERT INTO group_messages
                (created_ns, group_id, data, sender_hmac, should_push, is_commit, content_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (content_hash) DO NOTHING
             RETURNING id",
            now,
            group_id,
            data,
            hmac,
            m.should_push,
            m.is_commit,
            hash
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = id {
            published.groups.push(GroupMessage {
                version: Some(group_message::Version::V1(group_message::V1 {
                    id: to_u64(id),
                    created_ns: to_u64(now),
                    group_id: m.group_id,
                    data: m.data,
                    sender_hmac: m.sender_hmac,
                    should_push: m.should_push,
                    is_commit: m.is_commit,
                })),
            });
        }
    }
    Ok(())
}

async fn insert_welcomes(
    tx: &mut SqliteConnection,
    welcomes: Vec<NewWelcome>,
    stamp: &mut Stamp,
    published: &mut Published,
) -> Result<(), sqlx::Error> {
    for w in welcomes {
        let now = stamp.take();
        let hash = content_hash(&w.installation_key, &w.data);
        let kind = w.kind as i64;
        let (key, data, hpke, meta) = (
            w.installation_key.as_ref(),
            w.data.as_ref(),
            w.hpke_public_key.as_ref(),
            w.welcome_metadata.as_ref(),
        );
        let id = sqlx::query_scalar!(
            "INSERT INTO welcome_messages
                (created_ns, installation_key, message_type, data, hpke_public_key,
                 wrapper_algorithm, welcome_metadata, content_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (content_hash) DO NOTHING
             RETURNING id",
            now,
            key,
            kind,
            data,
            hpke,
            w.wrapper_algorithm,
            meta,
            hash
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = id {
            let row = WelcomeRow {
                id,
                created_ns: now,
                installation_key: w.installation_key.to_vec(),
                message_type: kind,
                data: w.data.to_vec(),
                hpke_public_key: w.hpke_public_key.to_vec(),
                wrapper_algorithm: i64::from(w.wrapper_algorithm),
                welcome_metadata: w.welcome_metadata.to_vec(),
            };
            published.welcomes.push(row.into_proto());
        }
    }
    Ok(())
}

async fn insert_commit_log(
    tx: &mut SqliteConnection,
    entries: Vec<NewCommitLogEntry>,
) -> Result<(), sqlx::Error> {
    for e in entries {
        sqlx::query!(
            "INSERT INTO commit_log (group_id, entry, signature) VALUES (?1, ?2, ?3)",
            e.group_id,
            e.entry,
            e.signature
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Verifies `update` against the inbox's stored log and appends it, updating the identifier
/// index from the state difference. The outer `Result` is a storage failure; the inner one is
/// the verdict on the update.
async fn append_identity_update(
    tx: &mut SqliteConnection,
    update: &IdentityUpdate,
    max_log_entries: usize,
    stamp: &mut Stamp,
) -> Result<Result<(), IdentityWriteError>, sqlx::Error> {
    let inbox_id = update.inbox_id.as_str();
    let stored = sqlx::query_scalar!(
        "SELECT identity_update FROM inbox_log WHERE inbox_id = ?1 ORDER BY sequence_id ASC",
        inbox_id
    )
    .fetch_all(&mut *tx)
    .await?;
    if stored.len() >= max_log_entries {
        return Ok(Err(IdentityWriteError::LogFull(max_log_entries)));
    }
    let mut log = Vec::with_capacity(stored.len());
    for bytes in &stored {
        match IdentityUpdate::decode(bytes.as_slice()) {
            Ok(update) => log.push(update),
            Err(e) => {
                return Ok(Err(IdentityWriteError::Storage(NodeError::Storage(format!(
                    "stored identity update is corrupt: {e}"
                )))));
            }
        }
    }
    let before = if log.is_empty() {
        None
    } else {
        match AssociationState::from_log(&log) {
            Ok(state) => Some(state),
            Err(e) => {
                return Ok(Err(IdentityWriteError::Storage(NodeError::Storage(format!(
                    "stored identity log of {inbox_id} no longer verifies: {e}"
                )))));
            }
        }
    };
    let after = match AssociationState::apply(before.as_ref(), update) {
        Ok(state) => state,
        Err(e) => return Ok(Err(IdentityWriteError::Invalid(e))),
    };
    let diff = match &before {
        Some(before) => before.diff(&after),
        None => after.as_diff(),
    };
    let encoded = update.encode_to_vec();
    let now = stamp.take();
    let sequence_id = sqlx::query_scalar!(
        "INSERT INTO inbox_log (inbox_id, server_timestamp_ns, identity_update)
         VALUES (?1, ?2, ?3) RETURNING sequence_id",
        inbox_id,
        now,
        encoded
    )
    .fetch_one(&mut *tx)
    .await?;
    for member in &diff.added {
        if let MemberIdentifier::Ethereum(address) = member {
            sqlx::query!(
                "INSERT OR IGNORE INTO identifier_log
                    (identifier, inbox_id, association_sequence_id, revocation_sequence_id)
                 VALUES (?1, ?2, ?3, NULL)",
                address,
                inbox_id,
                sequence_id
            )
            .execute(&mut *tx)
            .await?;
        }
    }
    for member in &diff.removed {
        if let MemberIdentifier::Ethereum(address) = member {
            sqlx::query!(
                "UPDATE identifier_log SET revocation_sequence_id = ?1
                 WHERE identifier = ?2 AND inbox_id = ?3 AND revocation_sequence_id IS NULL",
                sequence_id,
                address,
                inbox_id
            )
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sqlx::Row;

    use super::*;

    /// A d14n page reads each kind from its own index range: a client whose commit cursor is far
    /// behind its application-message cursor (commits are rare) does not make the node scan
    /// every message in between, on every sync.
    #[tokio::test]
    async fn a_d14n_page_reads_each_kind_from_its_own_index_range() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _writer) =
            Store::open(&dir.path().join("node.db"), crate::config::system_clock()).await.unwrap();
        let explain = sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {GROUP_PAGE_D14N}"));
        let plan: Vec<String> = sqlx::query(explain)
            .bind(vec![1u8; 16])
            .bind(1_i64)
            .bind(100_i64)
            .bind(INLINE_BYTES)
            .bind(1_000_i64)
            .fetch_all(&store.reads)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect();
        let ranges = plan
            .iter()
            .filter(|d| {
                d.contains("group_messages_by_kind")
                    && d.contains("group_id=? AND is_commit=? AND id>?")
            })
            .count();
        assert_eq!(ranges, 2, "{plan:#?}");
    }
}
