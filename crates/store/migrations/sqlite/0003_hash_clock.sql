-- The order in which key hashes were written, so that a node can keep its
-- copy of the stored hashes current by reading only what was written since
-- it last looked. The database numbers every write that stores a hash (a
-- new key, a regeneration), whichever program or version makes it: the
-- triggers below take the next number of `hash_clock` inside the writing
-- transaction. SQLite has one writer at a time, so numbers become visible
-- in the order they were taken.

CREATE TABLE hash_clock (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO hash_clock (id, seq) VALUES (1, 0);

-- Keys written before this migration keep 0: a node reads them when it
-- loads every hash at start.
ALTER TABLE api_keys ADD COLUMN hash_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX api_keys_hash_seq ON api_keys (hash_seq);

CREATE TRIGGER api_keys_hash_seq_on_insert AFTER INSERT ON api_keys
BEGIN
    UPDATE hash_clock SET seq = seq + 1 WHERE id = 1;
    UPDATE api_keys SET hash_seq = (SELECT seq FROM hash_clock WHERE id = 1)
     WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER api_keys_hash_seq_on_update AFTER UPDATE OF hash, previous_hash ON api_keys
WHEN OLD.hash IS NOT NEW.hash OR OLD.previous_hash IS NOT NEW.previous_hash
BEGIN
    UPDATE hash_clock SET seq = seq + 1 WHERE id = 1;
    UPDATE api_keys SET hash_seq = (SELECT seq FROM hash_clock WHERE id = 1)
     WHERE rowid = NEW.rowid;
END;
