-- The order in which key hashes were written, so that a node can keep its
-- copy of the stored hashes current by reading only what was written since
-- it last looked. The database numbers every write that stores a hash (a
-- new key, a regeneration), whichever node or version makes it: the
-- triggers below take the next number of `hash_clock` inside the writing
-- transaction, and the row lock taken with it is held until the
-- transaction ends. Writers on every node take numbers one at a time, and
-- the numbers become visible in the order they were taken.

CREATE TABLE hash_clock (
    id  SMALLINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO hash_clock (id, seq) VALUES (1, 0);

-- Keys written before this migration keep 0: a node reads them when it
-- loads every hash at start.
ALTER TABLE api_keys ADD COLUMN hash_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX api_keys_hash_seq ON api_keys (hash_seq);

CREATE FUNCTION api_keys_take_hash_seq() RETURNS trigger AS $$
BEGIN
    UPDATE hash_clock SET seq = seq + 1 WHERE id = 1 RETURNING seq INTO NEW.hash_seq;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER api_keys_hash_seq_on_insert BEFORE INSERT ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_keys_take_hash_seq();

CREATE TRIGGER api_keys_hash_seq_on_update BEFORE UPDATE OF hash, previous_hash ON api_keys
    FOR EACH ROW
    WHEN (OLD.hash IS DISTINCT FROM NEW.hash OR OLD.previous_hash IS DISTINCT FROM NEW.previous_hash)
    EXECUTE FUNCTION api_keys_take_hash_seq();
