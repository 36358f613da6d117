-- The node's storage. Every table with an INTEGER PRIMARY KEY uses it as the node-assigned
-- sequence id that clients page and subscribe by; rows are never deleted, so ids never repeat.

-- Group messages: one sequence across all groups. content_hash = sha256(group_id || data)
-- makes a re-sent message a silent no-op.
CREATE TABLE group_messages (
    id           INTEGER PRIMARY KEY,
    created_ns   INTEGER NOT NULL,
    group_id     BLOB    NOT NULL,
    data         BLOB    NOT NULL,
    sender_hmac  BLOB    NOT NULL,
    should_push  INTEGER NOT NULL,
    is_commit    INTEGER NOT NULL,
    content_hash BLOB    NOT NULL UNIQUE
);
CREATE INDEX group_messages_by_group ON group_messages (group_id, id);

-- Welcomes: message_type 0 = V1 (data is the sealed welcome), 1 = welcome pointer (data is the
-- sealed pointer). content_hash = sha256(installation_key || data).
CREATE TABLE welcome_messages (
    id                INTEGER PRIMARY KEY,
    created_ns        INTEGER NOT NULL,
    installation_key  BLOB    NOT NULL,
    message_type      INTEGER NOT NULL,
    data              BLOB    NOT NULL,
    hpke_public_key   BLOB    NOT NULL,
    wrapper_algorithm INTEGER NOT NULL,
    welcome_metadata  BLOB    NOT NULL,
    content_hash      BLOB    NOT NULL UNIQUE
);
CREATE INDEX welcome_messages_by_installation ON welcome_messages (installation_key, id);

-- The latest (last-resort) key package of each installation.
CREATE TABLE key_packages (
    installation_key BLOB    PRIMARY KEY,
    inbox_id         TEXT    NOT NULL,
    key_package      BLOB    NOT NULL,
    updated_ns       INTEGER NOT NULL
) WITHOUT ROWID;

-- Verified identity updates: one sequence across all inboxes.
CREATE TABLE inbox_log (
    sequence_id         INTEGER PRIMARY KEY,
    inbox_id            TEXT    NOT NULL,
    server_timestamp_ns INTEGER NOT NULL,
    identity_update     BLOB    NOT NULL
);
CREATE INDEX inbox_log_by_inbox ON inbox_log (inbox_id, sequence_id);

-- Which inbox an identifier (lower-case Ethereum address) belongs to, from verified updates.
CREATE TABLE identifier_log (
    identifier              TEXT    NOT NULL,
    inbox_id                TEXT    NOT NULL,
    association_sequence_id INTEGER NOT NULL,
    revocation_sequence_id  INTEGER,
    PRIMARY KEY (identifier, inbox_id, association_sequence_id)
) WITHOUT ROWID;

-- libxmtp's per-group commit log (fork detection); opaque to the node.
CREATE TABLE commit_log (
    id        INTEGER PRIMARY KEY,
    group_id  BLOB NOT NULL,
    entry     BLOB NOT NULL,
    signature BLOB NOT NULL
);
CREATE INDEX commit_log_by_group ON commit_log (group_id, id);
