-- The decentralized network's view of the same data (src/d14n.rs).

-- Key packages get a sequence (originator 13): each upload takes the next number.
ALTER TABLE key_packages ADD COLUMN sequence_id INTEGER NOT NULL DEFAULT 0;
UPDATE key_packages SET sequence_id = (
    SELECT count(*) FROM key_packages AS earlier
    WHERE earlier.updated_ns < key_packages.updated_ns
       OR (earlier.updated_ns = key_packages.updated_ns
           AND earlier.installation_key <= key_packages.installation_key));
CREATE INDEX key_packages_by_sequence ON key_packages (sequence_id);

-- The key this node signs originator envelopes with (one row).
CREATE TABLE node_key (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    secret BLOB    NOT NULL
);
