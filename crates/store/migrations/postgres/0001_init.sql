-- Keyward's schema on PostgreSQL, column for column the SQLite schema of the
-- same name. Times are microseconds since the Unix epoch (BIGINT); lists and
-- objects are JSON text. No secret is ever stored in plaintext: keys are
-- SHA-256 hashes, publishable keys, shared secrets and replayable responses
-- are sealed with the master key.
--
-- Identifiers, scope lists and outcome codes sort as bytes (COLLATE "C"), as
-- in SQLite, so lists come in the same order (ties broken by id) whatever the
-- database's default collation.

CREATE TABLE organizations (
    id                       TEXT COLLATE "C" PRIMARY KEY,
    name                     TEXT NOT NULL,
    default_project_id       TEXT COLLATE "C" NOT NULL,
    created_at               BIGINT NOT NULL,
    shared_secret            BYTEA NOT NULL,
    shared_secret_rotated_at BIGINT NOT NULL
);

CREATE TABLE members (
    id            TEXT COLLATE "C" PRIMARY KEY,
    org_id        TEXT COLLATE "C" NOT NULL REFERENCES organizations (id),
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (org_id, email)
);

CREATE TABLE projects (
    id         TEXT COLLATE "C" PRIMARY KEY,
    org_id     TEXT COLLATE "C" NOT NULL REFERENCES organizations (id),
    name       TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    apis       TEXT NOT NULL,
    management BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE api_keys (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    org_id              TEXT COLLATE "C" NOT NULL REFERENCES organizations (id),
    project_id          TEXT COLLATE "C" NOT NULL REFERENCES projects (id),
    root                BOOLEAN NOT NULL,
    name                TEXT NOT NULL,
    description         TEXT NOT NULL,
    key_type            TEXT NOT NULL,
    role                TEXT NOT NULL,
    scopes              TEXT NOT NULL,
    scope_sort          TEXT COLLATE "C" NOT NULL,
    enabled             BOOLEAN NOT NULL,
    hash                BYTEA NOT NULL UNIQUE,
    hint                TEXT NOT NULL,
    previous_hash       BYTEA,
    previous_expires_at BIGINT,
    sealed_key          BYTEA,
    created_by          TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    expires_at          BIGINT,
    last_used_at        BIGINT,
    revoked_at          BIGINT,
    revoked_reason      TEXT,
    archived_at         BIGINT,
    trusted_origins     TEXT NOT NULL,
    allowed_ips         TEXT NOT NULL,
    meta                TEXT NOT NULL,
    ratelimit           TEXT,
    quota               TEXT,
    quota_used          BIGINT NOT NULL DEFAULT 0,
    quota_period_start  BIGINT,
    version             BIGINT NOT NULL
);

CREATE INDEX api_keys_previous_hash ON api_keys (previous_hash) WHERE previous_hash IS NOT NULL;
CREATE INDEX api_keys_org_created ON api_keys (org_id, created_at, id);
CREATE INDEX api_keys_org_archived ON api_keys (org_id, archived_at) WHERE archived_at IS NOT NULL;

CREATE TABLE key_usage (
    org_id TEXT COLLATE "C" NOT NULL,
    key_id TEXT COLLATE "C" NOT NULL,
    hour   BIGINT NOT NULL,
    code   TEXT COLLATE "C" NOT NULL,
    count  BIGINT NOT NULL,
    PRIMARY KEY (key_id, hour, code)
);

CREATE TABLE idempotency (
    org_id       TEXT COLLATE "C" NOT NULL REFERENCES organizations (id),
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    sealed_body  BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (org_id, key)
);

CREATE TABLE audit_events (
    org_id      TEXT COLLATE "C" NOT NULL REFERENCES organizations (id),
    seq         BIGINT NOT NULL,
    id          TEXT COLLATE "C" NOT NULL UNIQUE,
    occurred_at BIGINT NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    actor_name  TEXT NOT NULL,
    team        TEXT,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    target_name TEXT NOT NULL,
    ip          TEXT,
    user_agent  TEXT,
    changes     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (org_id, seq)
);

-- The product never edits or deletes an event; neither may anything else
-- that goes through this database without first dropping these triggers.
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

-- TRUNCATE fires no row trigger; forbid it too.
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
