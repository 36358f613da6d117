-- d14n reads a group's commits and application messages from separate cursors (originators 0
-- and 10): one index range per kind.
CREATE INDEX group_messages_by_kind ON group_messages (group_id, is_commit, id);
