-- A publish that failed without the node's answer (a connection cut, a timeout) may still have
-- been stored and delivered. Such a message is kept, with the time of the failure, until a sync
-- reads it back (delivered) or a sync started long enough after the failure does not find it
-- (never stored: then it is deleted).
ALTER TABLE sent_envelopes ADD COLUMN failed_ns INTEGER;
