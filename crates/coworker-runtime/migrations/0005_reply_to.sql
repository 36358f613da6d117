-- Where a served task's answer goes, so a task interrupted by a restart can still be answered
-- (as cancelled) to the caller who waits for it: the conversation, the correlation id and
-- whether the request came in a group. NULL for tasks claimed before this migration.
ALTER TABLE served_tasks ADD COLUMN reply_to BLOB;
ALTER TABLE served_tasks ADD COLUMN correlation_id TEXT;
ALTER TABLE served_tasks ADD COLUMN in_group INTEGER;
