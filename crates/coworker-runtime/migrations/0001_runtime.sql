-- The agent runtime's state. Peers are keyed by XMTP inbox id (lowercase hex), never by a
-- self-declared name or wallet.
CREATE TABLE peers (
    inbox_id     TEXT PRIMARY KEY,
    name         TEXT NOT NULL DEFAULT '',
    tier         INTEGER NOT NULL DEFAULT 0,
    failures     INTEGER NOT NULL DEFAULT 0,
    skills       TEXT NOT NULL DEFAULT '[]',
    updated_ms   INTEGER NOT NULL
);

-- The owner's expose/hide choice per skill.
CREATE TABLE visibility (
    skill   TEXT PRIMARY KEY,
    exposed INTEGER NOT NULL
);

-- Tasks we ran for peers: a task id runs once; retries get the stored answer.
CREATE TABLE served_tasks (
    peer       TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    skill      TEXT NOT NULL,
    response   TEXT,
    started_ms INTEGER NOT NULL,
    PRIMARY KEY (peer, task_id)
);

-- Calls we made: asynchronous ones survive a restart and complete when the answer arrives.
CREATE TABLE calls (
    task_id        TEXT PRIMARY KEY,
    correlation_id TEXT NOT NULL,
    peer           TEXT NOT NULL,
    skill          TEXT NOT NULL,
    input          TEXT NOT NULL,
    status         TEXT NOT NULL,
    result         TEXT,
    created_ms     INTEGER NOT NULL
);
CREATE INDEX calls_by_correlation ON calls (correlation_id);

CREATE TABLE receipts (
    id         TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE okrs (
    id         TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);

-- Every trust decision with the rule that fired.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms   INTEGER NOT NULL,
    peer    TEXT NOT NULL,
    action  TEXT NOT NULL,
    allowed INTEGER NOT NULL,
    rule    TEXT NOT NULL,
    reason  TEXT NOT NULL
);

CREATE TABLE trust_requests (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    peer           TEXT NOT NULL,
    requested      INTEGER NOT NULL,
    reason         TEXT NOT NULL,
    correlation_id TEXT,
    status         TEXT NOT NULL,
    created_ms     INTEGER NOT NULL
);

-- How far each conversation's messages have been handled (catch-up after a restart).
CREATE TABLE watermarks (
    conversation BLOB PRIMARY KEY,
    sent_ns      INTEGER NOT NULL
);
