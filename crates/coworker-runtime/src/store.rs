//! The runtime's SQLite database: peers and their tiers, skill visibility, served tasks (run
//! once per task id), calls, receipts, OKRs, the audit log, trust requests and watermarks.

use std::path::Path;
use std::str::FromStr;

use coworker_protocol::envelope::Dialect;
use coworker_protocol::trust::Tier;
use coworker_protocol::{CallStatus, Decision, Okr, RequestStatus, SignedReceipt};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::Result;

/// A peer as this agent sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peer {
    /// XMTP inbox id.
    pub inbox_id: String,
    /// Display name (from its invite or its capabilities; informational).
    pub name: String,
    /// The tier we hold it at.
    pub tier: Tier,
    /// The skills it last showed us.
    pub skills: Vec<coworker_protocol::SkillCard>,
    /// When it last sent us anything (Unix ms), if ever.
    pub seen_ms: Option<u64>,
    /// Whether the name is one the owner accepted (from an invite), not only what the peer
    /// calls itself.
    pub name_verified: bool,
    /// Blocked by the owner: everything it sends is refused without an answer.
    pub blocked: bool,
}

impl Peer {
    /// How approval prompts and lists name the peer: the name the owner accepted, or the name
    /// the peer gives itself marked unverified; always with 24 hex digits (96 bits) of its
    /// inbox id, which no one can match by grinding keys.
    pub fn label(&self) -> String {
        peer_label(&self.inbox_id, &self.name, self.name_verified)
    }
}

/// [`Peer::label`] for a peer that may not be stored yet (`name` empty: unnamed).
pub fn peer_label(inbox_id: &str, name: &str, verified: bool) -> String {
    let id = fingerprint(inbox_id);
    let name = coworker_protocol::text::one_line(name, 64);
    match (name.is_empty(), verified) {
        (true, _) => format!("unknown peer {id}"),
        (false, true) => format!("{name} ({id})"),
        (false, false) => format!("\"{name}\" (unverified, {id})"),
    }
}

/// The first 24 hex digits of an inbox id, in groups of 8.
pub fn fingerprint(inbox_id: &str) -> String {
    let head: String = inbox_id.chars().filter(char::is_ascii_hexdigit).take(24).collect();
    let groups: Vec<&str> =
        (0..head.len()).step_by(8).map(|i| &head[i..(i + 8).min(head.len())]).collect();
    groups.join(" ")
}

/// Who gave a peer its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameSource {
    /// The owner accepted it (an invite).
    Owner,
    /// The peer says so.
    Peer,
}

impl NameSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Peer => "peer",
        }
    }
}

/// What the trust gate needs to know about a peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PeerState {
    pub(crate) tier: Tier,
    pub(crate) failures: u32,
    pub(crate) blocked: bool,
    /// The highest tier the auto-grant ceiling may still give (`None`: no decision yet).
    pub(crate) auto_grant_cap: Option<Tier>,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When (Unix ms).
    pub at_ms: u64,
    /// The peer's inbox id.
    pub peer: String,
    /// What was attempted (`task_request translate`, `trust_request 2`, …).
    pub action: String,
    /// The decision and the rule that fired.
    pub decision: Decision,
}

/// A trust request waiting for a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustRequestRecord {
    /// Its id (for approve/deny).
    pub id: i64,
    /// Who asks.
    pub peer: String,
    /// For which tier.
    pub requested: Tier,
    /// Their reason.
    pub reason: String,
    /// The request's correlation id (the answer carries it).
    pub correlation_id: Option<String>,
    /// Where it stands.
    pub status: RequestStatus,
}

/// A call this agent made, as listed for its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSummary {
    /// The task id.
    pub task_id: String,
    /// The provider.
    pub peer: String,
    /// The skill.
    pub skill: String,
    /// `sent` (waiting), `completed` or `failed:<CODE>`.
    pub status: CallStatus,
    /// When it was sent (Unix ms).
    pub created_ms: u64,
}

/// A call we made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallRecord {
    pub(crate) task_id: String,
    pub(crate) correlation_id: String,
    pub(crate) peer: String,
    pub(crate) skill: String,
    pub(crate) input: String,
}

/// Where a served task's answer goes (nowhere: an empty conversation, for our own OKR steps).
#[derive(Debug, Clone, Default)]
pub(crate) struct ReplyTo {
    /// The conversation id.
    pub(crate) conversation: Vec<u8>,
    /// The request's correlation id (empty: none).
    pub(crate) correlation_id: String,
    /// It came in a group (answered with the group message types).
    pub(crate) group: bool,
}

/// What claiming a task id found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Newly claimed: run it.
    New,
    /// It is running.
    Running,
    /// It ran; here is the answer that was sent.
    Done(String),
    /// The id was used for another skill or input.
    Conflict,
}

#[derive(Debug)]
pub(crate) struct Store {
    pool: SqlitePool,
    /// Trust requests from one peer arrive concurrently (each request is handled on its own
    /// task): replacing the pending one and inserting the new one must not interleave.
    trust_requests: tokio::sync::Mutex<()>,
}

fn tier(value: i64) -> Tier {
    u8::try_from(value).ok().and_then(|v| Tier::try_from(v).ok()).unwrap_or_default()
}

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn db(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Store {
    pub(crate) async fn open(path: &Path) -> Result<Self> {
        let existed = path.exists();
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
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
        crate::private::database(path, existed);
        Ok(Self { pool, trust_requests: tokio::sync::Mutex::new(()) })
    }

    pub(crate) async fn peers(&self) -> Result<Vec<Peer>> {
        let rows = sqlx::query(
            "SELECT inbox_id, name, tier, skills, seen_ms, name_source, blocked FROM peers
             ORDER BY inbox_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Peer {
                inbox_id: r.get("inbox_id"),
                name: r.get("name"),
                tier: tier(r.get("tier")),
                skills: serde_json::from_str(r.get::<&str, _>("skills")).unwrap_or_default(),
                seen_ms: r.get::<Option<i64>, _>("seen_ms").map(unsigned),
                name_verified: r.get::<&str, _>("name_source") == NameSource::Owner.as_str(),
                blocked: r.get::<i64, _>("blocked") != 0,
            })
            .collect())
    }

    /// Records that a known peer sent something at `at_ms` (strangers get no row), and which
    /// protocol it speaks when that was an envelope.
    pub(crate) async fn seen(
        &self,
        inbox: &str,
        at_ms: u64,
        dialect: Option<Dialect>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE peers SET seen_ms = max(coalesce(seen_ms, 0), ?), dialect = coalesce(?, dialect)
             WHERE inbox_id = ?",
        )
        .bind(db(at_ms))
        .bind(dialect.map(Dialect::as_str))
        .bind(inbox)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The protocol a peer speaks, if it ever sent us an envelope.
    pub(crate) async fn dialect(&self, inbox: &str) -> Result<Option<Dialect>> {
        let row = sqlx::query("SELECT dialect FROM peers WHERE inbox_id = ?")
            .bind(inbox)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|r| r.get::<Option<&str>, _>("dialect").and_then(Dialect::parse)))
    }

    /// Tier, consecutive failures, block and auto-grant cap (a stranger: untrusted, nothing).
    pub(crate) async fn peer_state(&self, inbox: &str) -> Result<PeerState> {
        let row = sqlx::query(
            "SELECT tier, failures, blocked, auto_grant_cap FROM peers WHERE inbox_id = ?",
        )
        .bind(inbox)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map_or_else(PeerState::default, |r| PeerState {
            tier: tier(r.get("tier")),
            failures: u32::try_from(r.get::<i64, _>("failures")).unwrap_or(0),
            blocked: r.get::<i64, _>("blocked") != 0,
            auto_grant_cap: r.get::<Option<i64>, _>("auto_grant_cap").map(tier),
        }))
    }

    /// Sets a peer's tier. `decided`: the owner decided it or it is a demotion, so the
    /// auto-grant ceiling may not give more than this tier again (only an automatic grant
    /// leaves the cap as it is).
    pub(crate) async fn set_tier(
        &self,
        inbox: &str,
        tier: Tier,
        decided: bool,
        now: u64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO peers (inbox_id, tier, updated_ms, auto_grant_cap) VALUES (?1, ?2, ?3, CASE WHEN ?4 THEN ?2 END)
             ON CONFLICT (inbox_id) DO UPDATE SET tier = excluded.tier, failures = 0,
             updated_ms = excluded.updated_ms,
             auto_grant_cap = CASE WHEN ?4 THEN excluded.tier ELSE auto_grant_cap END",
        )
        .bind(inbox)
        .bind(i64::from(u8::from(tier)))
        .bind(db(now))
        .bind(decided)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The owner denied a request: the auto-grant ceiling gives nothing above the peer's
    /// current tier any more.
    pub(crate) async fn cap_auto_grant(&self, inbox: &str, now: u64) -> Result<()> {
        sqlx::query(
            "INSERT INTO peers (inbox_id, updated_ms, auto_grant_cap) VALUES (?, ?, 0)
             ON CONFLICT (inbox_id) DO UPDATE SET
             auto_grant_cap = min(coalesce(auto_grant_cap, tier), tier)",
        )
        .bind(inbox)
        .bind(db(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Blocks (tier untrusted, nothing automatic) or unblocks (the tier stays untrusted).
    pub(crate) async fn set_blocked(&self, inbox: &str, blocked: bool, now: u64) -> Result<()> {
        sqlx::query(
            "INSERT INTO peers (inbox_id, updated_ms, blocked, auto_grant_cap) VALUES (?1, ?2, ?3, 0)
             ON CONFLICT (inbox_id) DO UPDATE SET blocked = ?3, updated_ms = ?2,
             tier = CASE WHEN ?3 THEN 0 ELSE tier END,
             auto_grant_cap = CASE WHEN ?3 THEN 0 ELSE auto_grant_cap END",
        )
        .bind(inbox)
        .bind(db(now))
        .bind(blocked)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records that an agent file seeds `tier` for a peer; `false` if that seed was applied
    /// before (the peer's tier may have changed since: the seed must not undo that).
    pub(crate) async fn record_seed(&self, inbox: &str, tier: Tier) -> Result<bool> {
        let changed = sqlx::query(
            "INSERT INTO seeded_tiers (peer, tier) VALUES (?1, ?2)
             ON CONFLICT (peer) DO UPDATE SET tier = ?2 WHERE seeded_tiers.tier != ?2",
        )
        .bind(inbox)
        .bind(i64::from(u8::from(tier)))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    pub(crate) async fn set_failures(&self, inbox: &str, failures: u32) -> Result<()> {
        sqlx::query("UPDATE peers SET failures = ? WHERE inbox_id = ?")
            .bind(i64::from(failures))
            .bind(inbox)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a peer's name and the skills it showed us; never its tier. A name the owner
    /// accepted is never replaced by one the peer gives itself.
    pub(crate) async fn save_peer_info(
        &self,
        inbox: &str,
        name: Option<(&str, NameSource)>,
        skills: Option<&[coworker_protocol::SkillCard]>,
        now: u64,
    ) -> Result<()> {
        let skills = skills.map(|s| serde_json::to_string(s).unwrap_or_else(|_| "[]".into()));
        let cleaned = name.map(|(n, _)| coworker_protocol::text::one_line(n, 64));
        let source = name.map_or(NameSource::Peer, |(_, s)| s).as_str();
        sqlx::query(
            "INSERT INTO peers (inbox_id, name, skills, updated_ms, name_source)
             VALUES (?1, coalesce(?2, ''), coalesce(?3, '[]'), ?4, ?5)
             ON CONFLICT (inbox_id) DO UPDATE SET
             name = CASE WHEN ?2 IS NOT NULL AND (?5 = 'owner' OR name_source = 'peer') THEN ?2 ELSE name END,
             name_source = CASE WHEN ?2 IS NOT NULL AND ?5 = 'owner' THEN 'owner' ELSE name_source END,
             skills = coalesce(?3, skills), updated_ms = excluded.updated_ms",
        )
        .bind(inbox)
        .bind(cleaned.as_deref().filter(|n| !n.is_empty()))
        .bind(&skills)
        .bind(db(now))
        .bind(source)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records the name a peer gives itself, unless we already know it by a name.
    pub(crate) async fn name_unnamed_peer(&self, inbox: &str, name: &str, now: u64) -> Result<()> {
        let name = coworker_protocol::text::one_line(name, 64);
        if name.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO peers (inbox_id, name, skills, updated_ms) VALUES (?, ?, '[]', ?)
             ON CONFLICT (inbox_id) DO UPDATE SET
             name = CASE WHEN name = '' THEN excluded.name ELSE name END",
        )
        .bind(inbox)
        .bind(name)
        .bind(db(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn visibility(&self) -> Result<Vec<(String, bool)>> {
        let rows =
            sqlx::query("SELECT skill, exposed FROM visibility").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| (r.get("skill"), r.get::<i64, _>("exposed") != 0)).collect())
    }

    pub(crate) async fn set_visibility(&self, skill: &str, exposed: bool) -> Result<()> {
        sqlx::query(
            "INSERT INTO visibility (skill, exposed) VALUES (?, ?)
             ON CONFLICT (skill) DO UPDATE SET exposed = excluded.exposed",
        )
        .bind(skill)
        .bind(i64::from(exposed))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims a task id for a peer. `Ok(None)`: newly claimed, run it. `Ok(Some(None))`: it is
    /// running. `Ok(Some(Some(response)))`: it ran; here is the answer that was sent.
    pub(crate) async fn claim_task(
        &self,
        peer: &str,
        task_id: &str,
        skill: &str,
        input_sha256: &str,
        reply_to: &ReplyTo,
        now: u64,
    ) -> Result<Claim> {
        let inserted = sqlx::query(
            "INSERT INTO served_tasks
               (peer, task_id, skill, started_ms, input_sha256, reply_to, correlation_id, in_group)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(peer)
        .bind(task_id)
        .bind(skill)
        .bind(db(now))
        .bind(input_sha256)
        .bind((!reply_to.conversation.is_empty()).then_some(&reply_to.conversation))
        .bind(&reply_to.correlation_id)
        .bind(reply_to.group)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Claim::New);
        }
        let row = sqlx::query(
            "SELECT response, skill, input_sha256 FROM served_tasks WHERE peer = ? AND task_id = ?",
        )
        .bind(peer)
        .bind(task_id)
        .fetch_one(&self.pool)
        .await?;
        let same = row.get::<&str, _>("skill") == skill
            && row.get::<Option<&str>, _>("input_sha256").is_none_or(|d| d == input_sha256);
        Ok(match row.get::<Option<String>, _>("response") {
            _ if !same => Claim::Conflict,
            None => Claim::Running,
            Some(response) => Claim::Done(response),
        })
    }

    /// Gives tasks that were running when the process stopped the answer `response`: they
    /// will not finish, and a retry must not wait forever nor run them a second time. Returns
    /// where to tell their callers (tasks claimed before answers were addressed have nowhere).
    pub(crate) async fn settle_interrupted_tasks(
        &self,
        response: &str,
    ) -> Result<Vec<(String, ReplyTo)>> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT task_id, reply_to, correlation_id, in_group FROM served_tasks
             WHERE response IS NULL",
        )
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("UPDATE served_tasks SET response = ? WHERE response IS NULL")
            .bind(response)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let reply_to = ReplyTo {
                    conversation: row.get::<Option<Vec<u8>>, _>("reply_to")?,
                    correlation_id: row.get::<Option<String>, _>("correlation_id")?,
                    group: row.get::<Option<bool>, _>("in_group").unwrap_or(false),
                };
                Some((row.get::<String, _>("task_id"), reply_to))
            })
            .collect())
    }

    pub(crate) async fn finish_task(
        &self,
        peer: &str,
        task_id: &str,
        response: &str,
        receipt: Option<&SignedReceipt>,
        now: u64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE served_tasks SET response = ? WHERE peer = ? AND task_id = ?")
            .bind(response)
            .bind(peer)
            .bind(task_id)
            .execute(&mut *tx)
            .await?;
        if let Some(receipt) = receipt {
            insert_receipt(&mut tx, "provider", receipt, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn insert_call(&self, call: &CallRecord, now: u64) -> Result<()> {
        sqlx::query(
            "INSERT INTO calls (task_id, correlation_id, peer, skill, input, status, created_ms)
             VALUES (?, ?, ?, ?, ?, 'sent', ?)
             ON CONFLICT (task_id) DO UPDATE SET correlation_id = excluded.correlation_id",
        )
        .bind(&call.task_id)
        .bind(&call.correlation_id)
        .bind(&call.peer)
        .bind(&call.skill)
        .bind(&call.input)
        .bind(db(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn finish_call(
        &self,
        task_id: &str,
        status: &CallStatus,
        result: &str,
        receipt: Option<&SignedReceipt>,
        now: u64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE calls SET status = ?, result = ? WHERE task_id = ?")
            .bind(status.to_string())
            .bind(result)
            .bind(task_id)
            .execute(&mut *tx)
            .await?;
        if let Some(receipt) = receipt {
            insert_receipt(&mut tx, "caller", receipt, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every call, newest first.
    pub(crate) async fn calls(&self) -> Result<Vec<CallSummary>> {
        let rows = sqlx::query(
            "SELECT task_id, peer, skill, status, created_ms FROM calls ORDER BY created_ms DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| CallSummary {
                task_id: r.get("task_id"),
                peer: r.get("peer"),
                skill: r.get("skill"),
                status: CallStatus::parse(r.get("status")),
                created_ms: u64::try_from(r.get::<i64, _>("created_ms")).unwrap_or(0),
            })
            .collect())
    }

    /// Calls still waiting for an answer (reloaded after a restart).
    pub(crate) async fn open_calls(&self) -> Result<Vec<CallRecord>> {
        let rows = sqlx::query(
            "SELECT task_id, correlation_id, peer, skill, input FROM calls WHERE status = 'sent'",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| CallRecord {
                task_id: r.get("task_id"),
                correlation_id: r.get("correlation_id"),
                peer: r.get("peer"),
                skill: r.get("skill"),
                input: r.get("input"),
            })
            .collect())
    }

    /// A finished call's (status, result JSON).
    pub(crate) async fn call_result(&self, task_id: &str) -> Result<Option<(CallStatus, String)>> {
        let row = sqlx::query("SELECT status, result FROM calls WHERE task_id = ?")
            .bind(task_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|r| {
            let result: Option<String> = r.get("result");
            result.map(|result| (CallStatus::parse(r.get("status")), result))
        }))
    }

    pub(crate) async fn receipts(&self) -> Result<Vec<(String, SignedReceipt)>> {
        let rows = sqlx::query("SELECT role, body FROM receipts ORDER BY created_ms, id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let body: &str = r.get("body");
                Some((r.get("role"), serde_json::from_str(body).ok()?))
            })
            .collect())
    }

    pub(crate) async fn save_okr(&self, okr: &Okr, now: u64) -> Result<()> {
        let body = serde_json::to_string(okr).unwrap_or_default();
        sqlx::query(
            "INSERT INTO okrs (id, body, updated_ms) VALUES (?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms",
        )
        .bind(&okr.id)
        .bind(body)
        .bind(db(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks that the initiator's step-down for this OKR was applied; `false` if it was
    /// already (it applies once).
    pub(crate) async fn mark_stepped_down(&self, id: &str) -> Result<bool> {
        let changed =
            sqlx::query("UPDATE okrs SET stepped_down = 1 WHERE id = ? AND stepped_down = 0")
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(changed == 1)
    }

    /// How many of `task_ids` of `peer` have finished.
    pub(crate) async fn served_count(&self, peer: &str, task_ids: &[String]) -> Result<usize> {
        let mut done = 0;
        for task_id in task_ids {
            let row = sqlx::query(
                "SELECT 1 FROM served_tasks WHERE peer = ? AND task_id = ? AND response IS NOT NULL",
            )
            .bind(peer)
            .bind(task_id)
            .fetch_optional(&self.pool)
            .await?;
            done += usize::from(row.is_some());
        }
        Ok(done)
    }

    /// OKRs whose step-down has not been applied yet.
    pub(crate) async fn okrs_not_stepped_down(&self) -> Result<Vec<(Okr, u64)>> {
        let rows = sqlx::query("SELECT body, updated_ms FROM okrs WHERE stepped_down = 0")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let okr = serde_json::from_str(r.get::<&str, _>("body")).ok()?;
                Some((okr, unsigned(r.get("updated_ms"))))
            })
            .collect())
    }

    pub(crate) async fn okr(&self, id: &str) -> Result<Option<Okr>> {
        let row = sqlx::query("SELECT body FROM okrs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|r| serde_json::from_str(r.get::<&str, _>("body")).ok()))
    }

    pub(crate) async fn okrs(&self) -> Result<Vec<Okr>> {
        let rows =
            sqlx::query("SELECT body FROM okrs ORDER BY updated_ms").fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .filter_map(|r| serde_json::from_str(r.get::<&str, _>("body")).ok())
            .collect())
    }

    pub(crate) async fn audit(&self, entry: &AuditEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit (at_ms, peer, action, allowed, rule, reason) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(db(entry.at_ms))
        .bind(&entry.peer)
        .bind(&entry.action)
        .bind(i64::from(entry.decision.allowed))
        .bind(&entry.decision.rule)
        .bind(&entry.decision.reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` entries, only `peer`'s when given.
    pub(crate) async fn audit_log(
        &self,
        peer: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at_ms, peer, action, allowed, rule, reason FROM audit
             WHERE ?1 IS NULL OR peer = ?1 ORDER BY id DESC LIMIT ?2",
        )
        .bind(peer)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                at_ms: unsigned(r.get("at_ms")),
                peer: r.get("peer"),
                action: r.get("action"),
                decision: Decision {
                    allowed: r.get::<i64, _>("allowed") != 0,
                    rule: r.get("rule"),
                    reason: r.get("reason"),
                },
            })
            .collect())
    }

    pub(crate) async fn add_trust_request(
        &self,
        peer: &str,
        requested: Tier,
        reason: &str,
        correlation_id: Option<&str>,
        now: u64,
    ) -> Result<(i64, bool)> {
        let _one_at_a_time = self.trust_requests.lock().await;
        // The same message seen twice (stream and catch-up) is one request.
        let same = sqlx::query(
            "SELECT id FROM trust_requests WHERE peer = ? AND status = 'pending' AND correlation_id IS ?",
        )
        .bind(peer)
        .bind(correlation_id)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = same.filter(|_| correlation_id.is_some()) {
            return Ok((row.get("id"), false));
        }
        // One pending request per peer: a repeat replaces the earlier one.
        sqlx::query(
            "UPDATE trust_requests SET status = 'superseded' WHERE peer = ? AND status = 'pending'",
        )
        .bind(peer)
        .execute(&self.pool)
        .await?;
        let id = sqlx::query(
            "INSERT INTO trust_requests (peer, requested, reason, correlation_id, status, created_ms)
             VALUES (?, ?, ?, ?, 'pending', ?)",
        )
        .bind(peer)
        .bind(i64::from(u8::from(requested)))
        .bind(reason)
        .bind(correlation_id)
        .bind(db(now))
        .execute(&self.pool)
        .await?
        .last_insert_rowid();
        Ok((id, true))
    }

    pub(crate) async fn trust_requests(
        &self,
        pending_only: bool,
    ) -> Result<Vec<TrustRequestRecord>> {
        let rows = sqlx::query(
            "SELECT id, peer, requested, reason, correlation_id, status FROM trust_requests
             WHERE (? = 0 OR status = 'pending') ORDER BY id",
        )
        .bind(i64::from(pending_only))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| TrustRequestRecord {
                id: r.get("id"),
                peer: r.get("peer"),
                requested: tier(r.get("requested")),
                reason: r.get("reason"),
                correlation_id: r.get("correlation_id"),
                // Unreadable is treated as decided: it is never acted on again.
                status: RequestStatus::parse(r.get("status")).unwrap_or(RequestStatus::Superseded),
            })
            .collect())
    }

    /// Marks a pending request decided; `None` if it was not pending.
    pub(crate) async fn decide_trust_request(
        &self,
        id: i64,
        approved: bool,
    ) -> Result<Option<TrustRequestRecord>> {
        let status = if approved { RequestStatus::Approved } else { RequestStatus::Denied };
        let changed =
            sqlx::query("UPDATE trust_requests SET status = ? WHERE id = ? AND status = 'pending'")
                .bind(status.as_str())
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        Ok(self.trust_requests(false).await?.into_iter().find(|r| r.id == id))
    }

    pub(crate) async fn watermarks(&self) -> Result<Vec<(Vec<u8>, u64)>> {
        let rows = sqlx::query("SELECT conversation, sent_ns FROM watermarks")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| (r.get("conversation"), unsigned(r.get("sent_ns")))).collect())
    }

    pub(crate) async fn save_watermarks(&self, marks: &[(Vec<u8>, u64)]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for (conversation, sent_ns) in marks {
            sqlx::query(
                "INSERT INTO watermarks (conversation, sent_ns) VALUES (?, ?)
                 ON CONFLICT (conversation) DO UPDATE SET sent_ns = max(sent_ns, excluded.sent_ns)",
            )
            .bind(conversation)
            .bind(db(*sent_ns))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_receipt(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    role: &str,
    receipt: &SignedReceipt,
    now: u64,
) -> Result<()> {
    let body = serde_json::to_string(receipt).unwrap_or_default();
    sqlx::query(
        "INSERT INTO receipts (id, role, body, created_ms) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(&receipt.receipt.id)
    .bind(role)
    .bind(body)
    .bind(db(now))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
