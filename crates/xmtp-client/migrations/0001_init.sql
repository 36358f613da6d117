-- Client state. MLS secrets live in `mls_kv`, sealed with the storage key from the key store.

-- openmls storage: one row per storage key; `value` = nonce ‖ ChaCha20-Poly1305(value, aad = key).
CREATE TABLE mls_kv (
    key   BLOB PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- Single-row facts about this installation (inbox id, registration, welcome cursor).
CREATE TABLE installation (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    inbox_id       TEXT    NOT NULL,
    installation   BLOB    NOT NULL,
    registered     INTEGER NOT NULL DEFAULT 0,
    welcome_cursor INTEGER NOT NULL DEFAULT 0
);

-- Our key packages: the welcome wrapper names the init key; openmls stores the bundle by hash ref.
CREATE TABLE key_packages (
    init_key   BLOB PRIMARY KEY,
    hash_ref   BLOB    NOT NULL,
    created_ns INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE conversations (
    id          BLOB PRIMARY KEY,
    kind        TEXT    NOT NULL CHECK (kind IN ('dm', 'group')),
    dm_peer     TEXT,
    created_ns  INTEGER NOT NULL,
    -- Id of the last group message processed (the node's per-group cursor).
    cursor      INTEGER NOT NULL DEFAULT 0,
    active      INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;

CREATE INDEX conversations_by_peer ON conversations (dm_peer) WHERE dm_peer IS NOT NULL;

CREATE TABLE messages (
    id                  BLOB PRIMARY KEY,
    conversation_id     BLOB    NOT NULL REFERENCES conversations (id),
    sender_inbox        TEXT    NOT NULL,
    sender_installation BLOB    NOT NULL,
    sent_ns             INTEGER NOT NULL,
    -- Node id of the envelope once seen on the network; NULL for our own until read back.
    envelope_id         INTEGER,
    content_type        TEXT    NOT NULL,
    -- Protobuf EncodedContent.
    content             BLOB    NOT NULL
) WITHOUT ROWID;

CREATE INDEX messages_by_conversation ON messages (conversation_id, sent_ns);

-- Hashes of group-message envelopes this installation published, so reading them back is a no-op.
CREATE TABLE sent_envelopes (
    hash            BLOB PRIMARY KEY,
    conversation_id BLOB NOT NULL,
    -- The message it carried; NULL for commits.
    message_id      BLOB
) WITHOUT ROWID;

CREATE INDEX sent_envelopes_by_message ON sent_envelopes (message_id) WHERE message_id IS NOT NULL;
