-- Which protocol a peer speaks, from its last envelope: 'coworker' (ours) or 'original'
-- (agent-coworker 0.6.1, which knows none of our additions). NULL until it sends one.
ALTER TABLE peers ADD COLUMN dialect TEXT;
