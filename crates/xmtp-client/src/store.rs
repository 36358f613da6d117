//! The client's SQLite database: MLS state (sealed), installation facts, key packages,
//! conversations with their cursors, and messages. Every change caused by one network input is
//! written in one transaction together with the cursor that consumed it, so a crash never
//! loses or repeats a message.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::cursor::Cursor;
use crate::error::{ClientError, Result};
use crate::mls::provider::Change;

/// Seals MLS values at rest with the storage key (XChaCha20-Poly1305, the row key as AAD).
struct Sealer(XChaCha20Poly1305);

impl Sealer {
    fn seal(&self, key: &[u8], value: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        out.extend(
            self.0
                .encrypt(XNonce::from_slice(&nonce), Payload { msg: value, aad: key })
                .map_err(|_| ClientError::Mls("sealing state failed".into()))?,
        );
        Ok(out)
    }

    fn open(&self, key: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 24 {
            return Err(ClientError::malformed("stored MLS state", "too short"));
        }
        self.0
            .decrypt(XNonce::from_slice(&sealed[..24]), Payload { msg: &sealed[24..], aad: key })
            .map_err(|_| {
                ClientError::malformed(
                    "stored MLS state",
                    "does not open with this installation's storage key",
                )
            })
    }
}

/// Rows per multi-row INSERT (8 parameters each, well under SQLite's 32,766 limit).
const MESSAGES_PER_STATEMENT: usize = 500;

pub(crate) struct Store {
    pool: SqlitePool,
    sealer: Sealer,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// A stored conversation row.
#[derive(Debug, Clone)]
pub(crate) struct ConversationRow {
    pub(crate) id: Vec<u8>,
    pub(crate) kind: String,
    pub(crate) dm_peer: Option<String>,
    pub(crate) created_ns: i64,
    pub(crate) active: bool,
    /// We asked to leave and wait for an admin to remove us.
    pub(crate) leaving: bool,
}

/// A stored message row.
#[derive(Debug, Clone)]
pub(crate) struct MessageRow {
    pub(crate) id: Vec<u8>,
    pub(crate) conversation_id: Vec<u8>,
    pub(crate) sender_inbox: String,
    pub(crate) sender_installation: Vec<u8>,
    pub(crate) sent_ns: i64,
    pub(crate) envelope_id: Option<i64>,
    pub(crate) content_type: String,
    pub(crate) content: Vec<u8>,
}

/// (envelope hash, conversation, message id if it is an application message).
pub(crate) type SentEnvelope = ([u8; 32], Vec<u8>, Option<Vec<u8>>);

/// Everything one operation changes, written atomically by [`Store::write`].
#[derive(Debug, Default)]
pub(crate) struct Write {
    pub(crate) mls: Vec<Change>,
    /// New (or rejoined: reading starts again from `cursors`) conversations.
    pub(crate) new_conversations: Vec<ConversationRow>,
    /// (conversation, where reading now stands): each originator's id only moves forward.
    pub(crate) cursors: Vec<(Vec<u8>, Cursor)>,
    pub(crate) deactivate: Vec<Vec<u8>>,
    /// Conversations we asked to leave.
    pub(crate) leaving: Vec<Vec<u8>>,
    /// (conversation, inbox) leave requests to act on, and ones done or moot.
    pub(crate) removals_requested: Vec<(Vec<u8>, String)>,
    pub(crate) removals_done: Vec<(Vec<u8>, String)>,
    pub(crate) messages: Vec<MessageRow>,
    /// (envelope hash, conversation, message id if it is an application message)
    pub(crate) sent: Vec<SentEnvelope>,
    /// Hashes of our own envelopes read back from the network.
    pub(crate) confirmed: Vec<[u8; 32]>,
    /// Hashes of our own envelopes the node does not have: forgotten with their messages.
    pub(crate) dropped: Vec<[u8; 32]>,
    /// (message id, envelope id): our own messages seen on the network.
    pub(crate) envelope_ids: Vec<(Vec<u8>, i64)>,
    pub(crate) welcome_cursor: Option<Cursor>,
    /// (init key, hash ref, created)
    pub(crate) key_packages: Vec<(Vec<u8>, Vec<u8>, i64)>,
}

impl Store {
    pub(crate) async fn open(path: &Path, storage_key: &[u8; 32]) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .after_release(|connection, _| {
                // After a failed statement (a full disk) SQLite may end a transaction on its own
                // while the driver still counts it open; reused, such a connection would nest
                // later writes in savepoints that never commit, holding the write lock. A
                // connection that comes back inside a transaction is closed instead.
                Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(connection)) })
            })
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool, sealer: Sealer(XChaCha20Poly1305::new(storage_key.into())) })
    }

    pub(crate) async fn mls_values(&self) -> Result<HashMap<Vec<u8>, Vec<u8>>> {
        let rows = sqlx::query!("SELECT key, value FROM mls_kv").fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|row| Ok((row.key.clone(), self.sealer.open(&row.key, &row.value)?)))
            .collect()
    }

    /// (inbox id, installation key, registered)
    pub(crate) async fn installation(&self) -> Result<Option<(String, Vec<u8>, bool)>> {
        let row: Option<(String, Vec<u8>, bool)> = sqlx::query_as(
            "SELECT inbox_id, installation, registered FROM installation WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// Where reading our welcomes stands.
    pub(crate) async fn welcome_cursor(&self) -> Result<Cursor> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT originator, sequence_id FROM welcome_cursors")
                .fetch_all(&self.pool)
                .await?;
        Ok(cursor_of(rows))
    }

    pub(crate) async fn save_installation(
        &self,
        inbox_id: &str,
        installation: &[u8],
    ) -> Result<()> {
        sqlx::query!(
            "INSERT INTO installation (id, inbox_id, installation) VALUES (1, ?, ?)
             ON CONFLICT (id) DO UPDATE SET inbox_id = excluded.inbox_id",
            inbox_id,
            installation
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn mark_registered(&self) -> Result<()> {
        sqlx::query!("UPDATE installation SET registered = 1 WHERE id = 1")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The init key of our newest key package.
    pub(crate) async fn newest_init_key(&self) -> Result<Option<Vec<u8>>> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT init_key FROM key_packages ORDER BY created_ns DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(key,)| key))
    }

    pub(crate) async fn key_package_ref(&self, init_key: &[u8]) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query!("SELECT hash_ref FROM key_packages WHERE init_key = ?", init_key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.hash_ref))
    }

    pub(crate) async fn conversations(&self) -> Result<Vec<ConversationRow>> {
        let rows: Vec<ConversationColumns> = sqlx::query_as(
            "SELECT id, kind, dm_peer, created_ns, active, leaving
             FROM conversations ORDER BY created_ns",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(conversation_row).collect())
    }

    /// Where reading each conversation's messages stands.
    pub(crate) async fn cursors(&self) -> Result<HashMap<Vec<u8>, Cursor>> {
        let positions: Vec<(Vec<u8>, i64, i64)> =
            sqlx::query_as("SELECT conversation_id, originator, sequence_id FROM group_cursors")
                .fetch_all(&self.pool)
                .await?;
        let mut rows: HashMap<Vec<u8>, Vec<(i64, i64)>> = HashMap::new();
        for (conversation, originator, sequence_id) in positions {
            rows.entry(conversation).or_default().push((originator, sequence_id));
        }
        Ok(rows.into_iter().map(|(id, rows)| (id, cursor_of(rows))).collect())
    }

    pub(crate) async fn conversation(&self, id: &[u8]) -> Result<Option<ConversationRow>> {
        let row: Option<ConversationColumns> = sqlx::query_as(
            "SELECT id, kind, dm_peer, created_ns, active, leaving FROM conversations WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(conversation_row))
    }

    /// Members who asked to leave, per conversation, that we have not removed yet.
    pub(crate) async fn pending_removals(&self) -> Result<Vec<(Vec<u8>, String)>> {
        let rows = sqlx::query!("SELECT conversation_id, inbox_id FROM pending_removals")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| (r.conversation_id, r.inbox_id)).collect())
    }

    /// Envelopes we published that have not been read back yet: hash → message id.
    pub(crate) async fn unconfirmed_sends(&self) -> Result<HashMap<[u8; 32], Option<Vec<u8>>>> {
        let rows = sqlx::query!("SELECT hash, message_id FROM sent_envelopes")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| Some((<[u8; 32]>::try_from(r.hash.as_slice()).ok()?, r.message_id)))
            .collect())
    }

    /// Our envelopes whose publish failed without an answer: hash → (conversation, when).
    pub(crate) async fn failed_sends(&self) -> Result<HashMap<[u8; 32], (Vec<u8>, u64)>> {
        let rows: Vec<(Vec<u8>, Vec<u8>, i64)> = sqlx::query_as(
            "SELECT hash, conversation_id, failed_ns FROM sent_envelopes
             WHERE failed_ns IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(hash, conversation, failed)| {
                Some((
                    <[u8; 32]>::try_from(hash.as_slice()).ok()?,
                    (conversation, u64::try_from(failed).unwrap_or(0)),
                ))
            })
            .collect())
    }

    /// Records that publishing `hash` failed at `at_ns` with no answer from the node.
    pub(crate) async fn mark_send_failed(&self, hash: &[u8; 32], at_ns: u64) -> Result<()> {
        sqlx::query("UPDATE sent_envelopes SET failed_ns = ? WHERE hash = ?")
            .bind(i64::try_from(at_ns).unwrap_or(i64::MAX))
            .bind(hash.as_slice())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn messages(
        &self,
        conversation: &[u8],
        after_ns: i64,
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query_as!(
            MessageRow,
            "SELECT id, conversation_id, sender_inbox, sender_installation, sent_ns, envelope_id,
                    content_type, content
             FROM messages WHERE conversation_id = ? AND sent_ns > ?
             ORDER BY sent_ns, id LIMIT ?",
            conversation,
            after_ns,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// The newest `limit` messages of a conversation, oldest first (one index range scan).
    pub(crate) async fn latest_messages(
        &self,
        conversation: &[u8],
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        let mut rows = sqlx::query_as!(
            MessageRow,
            "SELECT id, conversation_id, sender_inbox, sender_installation, sent_ns, envelope_id,
                    content_type, content
             FROM messages WHERE conversation_id = ?
             ORDER BY sent_ns DESC, id DESC LIMIT ?",
            conversation,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        rows.reverse();
        Ok(rows)
    }

    /// Writes everything in `write` in one transaction.
    pub(crate) async fn write(&self, write: Write) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for (key, value) in &write.mls {
            match value {
                Some(value) => {
                    let sealed = self.sealer.seal(key, value)?;
                    sqlx::query!(
                        "INSERT INTO mls_kv (key, value) VALUES (?, ?)
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        key,
                        sealed
                    )
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query!("DELETE FROM mls_kv WHERE key = ?", key).execute(&mut *tx).await?;
                }
            }
        }
        for c in &write.new_conversations {
            sqlx::query(
                "INSERT INTO conversations (id, kind, dm_peer, created_ns, active)
                 VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET active = excluded.active",
            )
            .bind(&c.id)
            .bind(&c.kind)
            .bind(&c.dm_peer)
            .bind(c.created_ns)
            .bind(c.active)
            .execute(&mut *tx)
            .await?;
            // A rejoined conversation reads on from where the new welcome says.
            sqlx::query("DELETE FROM group_cursors WHERE conversation_id = ?")
                .bind(&c.id)
                .execute(&mut *tx)
                .await?;
        }
        for (id, cursor) in &write.cursors {
            for (originator, sequence_id) in cursor.entries() {
                sqlx::query(
                    "INSERT INTO group_cursors (conversation_id, originator, sequence_id)
                     VALUES (?, ?, ?)
                     ON CONFLICT (conversation_id, originator)
                     DO UPDATE SET sequence_id = max(sequence_id, excluded.sequence_id)",
                )
                .bind(id)
                .bind(i64::from(originator))
                .bind(to_i64(sequence_id))
                .execute(&mut *tx)
                .await?;
            }
        }
        for id in &write.deactivate {
            sqlx::query!("UPDATE conversations SET active = 0 WHERE id = ?", id)
                .execute(&mut *tx)
                .await?;
        }
        for id in &write.leaving {
            sqlx::query!("UPDATE conversations SET leaving = 1 WHERE id = ?", id)
                .execute(&mut *tx)
                .await?;
        }
        for (id, inbox) in &write.removals_requested {
            sqlx::query!(
                "INSERT INTO pending_removals (conversation_id, inbox_id) VALUES (?, ?)
                 ON CONFLICT DO NOTHING",
                id,
                inbox
            )
            .execute(&mut *tx)
            .await?;
        }
        for (id, inbox) in &write.removals_done {
            sqlx::query!(
                "DELETE FROM pending_removals WHERE conversation_id = ? AND inbox_id = ?",
                id,
                inbox
            )
            .execute(&mut *tx)
            .await?;
        }
        // One statement per chunk: a catch-up page is written with one round trip to SQLite.
        for chunk in write.messages.chunks(MESSAGES_PER_STATEMENT) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO messages (id, conversation_id, sender_inbox, sender_installation, \
                 sent_ns, envelope_id, content_type, content) ",
            );
            insert.push_values(chunk, |mut row, m| {
                row.push_bind(&m.id)
                    .push_bind(&m.conversation_id)
                    .push_bind(&m.sender_inbox)
                    .push_bind(&m.sender_installation)
                    .push_bind(m.sent_ns)
                    .push_bind(m.envelope_id)
                    .push_bind(&m.content_type)
                    .push_bind(&m.content);
            });
            insert.push(" ON CONFLICT (id) DO NOTHING");
            insert.build().execute(&mut *tx).await?;
        }
        for (hash, conversation, message) in &write.sent {
            let hash = hash.as_slice();
            sqlx::query!(
                "INSERT INTO sent_envelopes (hash, conversation_id, message_id) VALUES (?, ?, ?)
                 ON CONFLICT (hash) DO NOTHING",
                hash,
                conversation,
                message
            )
            .execute(&mut *tx)
            .await?;
        }
        for hash in &write.dropped {
            let hash = hash.as_slice();
            let message: Option<(Option<Vec<u8>>,)> =
                sqlx::query_as("SELECT message_id FROM sent_envelopes WHERE hash = ?")
                    .bind(hash)
                    .fetch_optional(&mut *tx)
                    .await?;
            sqlx::query("DELETE FROM sent_envelopes WHERE hash = ?")
                .bind(hash)
                .execute(&mut *tx)
                .await?;
            if let Some((Some(id),)) = message {
                sqlx::query("DELETE FROM messages WHERE id = ?").bind(id).execute(&mut *tx).await?;
            }
        }
        for hash in &write.confirmed {
            let hash = hash.as_slice();
            sqlx::query!("DELETE FROM sent_envelopes WHERE hash = ?", hash)
                .execute(&mut *tx)
                .await?;
        }
        for (message, envelope) in &write.envelope_ids {
            sqlx::query!("UPDATE messages SET envelope_id = ? WHERE id = ?", envelope, message)
                .execute(&mut *tx)
                .await?;
        }
        for (originator, sequence_id) in write.welcome_cursor.iter().flat_map(Cursor::entries) {
            sqlx::query(
                "INSERT INTO welcome_cursors (originator, sequence_id) VALUES (?, ?)
                 ON CONFLICT (originator) DO UPDATE
                 SET sequence_id = max(sequence_id, excluded.sequence_id)",
            )
            .bind(i64::from(originator))
            .bind(to_i64(sequence_id))
            .execute(&mut *tx)
            .await?;
        }
        for (init_key, hash_ref, created) in &write.key_packages {
            sqlx::query!(
                "INSERT INTO key_packages (init_key, hash_ref, created_ns) VALUES (?, ?, ?)
                 ON CONFLICT (init_key) DO NOTHING",
                init_key,
                hash_ref,
                created
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Where reading the conversation's messages stands.
    pub(crate) async fn cursor(&self, conversation: &[u8]) -> Result<Cursor> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT originator, sequence_id FROM group_cursors WHERE conversation_id = ?",
        )
        .bind(conversation)
        .fetch_all(&self.pool)
        .await?;
        Ok(cursor_of(rows))
    }
}

/// (id, kind, dm_peer, created_ns, active, leaving)
type ConversationColumns = (Vec<u8>, String, Option<String>, i64, bool, bool);

fn conversation_row(row: ConversationColumns) -> ConversationRow {
    let (id, kind, dm_peer, created_ns, active, leaving) = row;
    ConversationRow { id, kind, dm_peer, created_ns, active, leaving }
}

/// A cursor from stored (originator, sequence id) rows; rows out of range are left out.
fn cursor_of(rows: Vec<(i64, i64)>) -> Cursor {
    Cursor::from_entries(rows.into_iter().filter_map(|(originator, sequence_id)| {
        Some((u32::try_from(originator).ok()?, u64::try_from(sequence_id).ok()?))
    }))
}

fn to_i64(sequence_id: u64) -> i64 {
    i64::try_from(sequence_id).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A database written before vector cursors keeps its place: each conversation's single
    /// cursor becomes commits 0 and application messages 10, the welcome cursor originator 11.
    #[tokio::test]
    async fn single_cursors_become_vector_cursors_on_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.db");
        let options = SqliteConnectOptions::from_str("sqlite:")
            .unwrap()
            .filename(&path)
            .create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        let mut before = sqlx::migrate!("./migrations");
        before.migrations =
            before.migrations.iter().filter(|m| m.version < 4).cloned().collect::<Vec<_>>().into();
        before.run(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO installation (id, inbox_id, installation, registered, welcome_cursor)
             VALUES (1, 'inbox', x'01', 1, 7)",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO conversations (id, kind, created_ns, cursor)
             VALUES (x'aa', 'group', 1, 42), (x'bb', 'dm', 2, 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;

        let store = Store::open(&path, &[9; 32]).await.unwrap();
        assert_eq!(store.cursor(&[0xaa]).await.unwrap(), Cursor::joined_at(42));
        assert_eq!(store.cursor(&[0xbb]).await.unwrap(), Cursor::default());
        assert_eq!(store.welcome_cursor().await.unwrap(), Cursor::from_entries([(11, 7)]));
        assert_eq!(store.conversations().await.unwrap().len(), 2);
        let all = store.cursors().await.unwrap();
        assert_eq!(all.get(&vec![0xaa]), Some(&Cursor::joined_at(42)));
        assert_eq!(all.get(&vec![0xbb]), None, "nothing read yet");
        assert_eq!(store.installation().await.unwrap(), Some(("inbox".into(), vec![1], true)));

        // Cursors only move forward, per originator.
        let moved = Cursor::from_entries([(0, 40), (10, 50), (100, 3)]);
        store
            .write(Write { cursors: vec![(vec![0xaa], moved)], ..Write::default() })
            .await
            .unwrap();
        assert_eq!(
            store.cursor(&[0xaa]).await.unwrap(),
            Cursor::from_entries([(0, 42), (10, 50), (100, 3)])
        );
    }
}
