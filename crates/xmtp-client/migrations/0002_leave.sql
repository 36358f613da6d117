-- Self-removal (XIP-75). A member cannot commit its own removal: it sends a leave request and
-- marks the conversation `leaving`; members allowed to remove others record the request in
-- `pending_removals` and commit the removal.
ALTER TABLE conversations ADD COLUMN leaving INTEGER NOT NULL DEFAULT 0;

CREATE TABLE pending_removals (
    conversation_id BLOB NOT NULL REFERENCES conversations (id),
    inbox_id        TEXT NOT NULL,
    PRIMARY KEY (conversation_id, inbox_id)
) WITHOUT ROWID;
