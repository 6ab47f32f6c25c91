-- The order in which key hashes were written, so that a node can keep the
-- set of stored hashes current by reading only what was written since it
-- last looked. Every write of a key's hash columns (insert, update) takes
-- the next number of `hash_clock`. Writers take the number inside their
-- transaction and hold it until they commit, so numbers become visible in
-- the order they were taken.

CREATE TABLE hash_clock (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO hash_clock (id, seq) VALUES (1, 0);

-- Keys written before this migration keep 0: a node reads them when it
-- loads every hash at start.
ALTER TABLE api_keys ADD COLUMN hash_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX api_keys_hash_seq ON api_keys (hash_seq);
