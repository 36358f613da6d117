-- Where reading stands, per topic and originator (a vector clock; see src/cursor.rs). On the
-- decentralized network each originator numbers its envelopes itself, so one id per topic
-- cannot say what was read. The single V3 cursors become the originators V3 data is filed
-- under: commits 0 and application messages 10 (one series), welcomes 11.
CREATE TABLE group_cursors (
    conversation_id BLOB    NOT NULL REFERENCES conversations (id),
    originator      INTEGER NOT NULL,
    sequence_id     INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, originator)
) WITHOUT ROWID;

INSERT INTO group_cursors (conversation_id, originator, sequence_id)
    SELECT id, 0, cursor FROM conversations WHERE cursor > 0;
INSERT INTO group_cursors (conversation_id, originator, sequence_id)
    SELECT id, 10, cursor FROM conversations WHERE cursor > 0;

CREATE TABLE welcome_cursors (
    originator  INTEGER PRIMARY KEY,
    sequence_id INTEGER NOT NULL
);

INSERT INTO welcome_cursors (originator, sequence_id)
    SELECT 11, welcome_cursor FROM installation WHERE welcome_cursor > 0;

ALTER TABLE conversations DROP COLUMN cursor;
ALTER TABLE installation DROP COLUMN welcome_cursor;
