-- The owner's decisions that must outlive a peer's requests (see docs/security.md).
-- A blocked peer is refused everything, silently, until the owner unblocks it.
ALTER TABLE peers ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0;
-- The highest tier the auto-grant ceiling may still give this peer: set by every decision of
-- the owner and by every demotion (NULL: no decision yet, the ceiling alone applies).
ALTER TABLE peers ADD COLUMN auto_grant_cap INTEGER;
-- Where the name comes from: 'owner' (an invite the owner accepted) or 'peer' (what the peer
-- calls itself, unverified).
ALTER TABLE peers ADD COLUMN name_source TEXT NOT NULL DEFAULT 'peer';

-- The tier an agent file last seeded for a peer: a seed applies once, not at every start.
CREATE TABLE seeded_tiers (
    peer TEXT PRIMARY KEY,
    tier INTEGER NOT NULL
);

-- The provider's side of an OKR a peer initiated: whether the initiator's trust step-down
-- was applied (once, whichever comes first: the OKR ends, our last step is served, it expires).
ALTER TABLE okrs ADD COLUMN stepped_down INTEGER NOT NULL DEFAULT 0;

-- What a task id was first used for: a reused id with another skill or input is refused.
ALTER TABLE served_tasks ADD COLUMN input_sha256 TEXT;
