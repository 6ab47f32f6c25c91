-- Keyward's schema on SQLite. Times are microseconds since the Unix epoch;
-- lists and objects are JSON text. No secret is ever stored in plaintext:
-- keys are SHA-256 hashes, publishable keys, shared secrets and replayable
-- responses are sealed with the master key.

CREATE TABLE organizations (
    id                       TEXT PRIMARY KEY,
    name                     TEXT NOT NULL,
    default_project_id       TEXT NOT NULL,
    created_at               INTEGER NOT NULL,
    shared_secret            BLOB NOT NULL,
    shared_secret_rotated_at INTEGER NOT NULL
);

CREATE TABLE members (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id),
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (org_id, email)
);

CREATE TABLE projects (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    name       TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    apis       TEXT NOT NULL,
    management INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE api_keys (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES organizations (id),
    project_id          TEXT NOT NULL REFERENCES projects (id),
    root                INTEGER NOT NULL,
    name                TEXT NOT NULL,
    description         TEXT NOT NULL,
    key_type            TEXT NOT NULL,
    role                TEXT NOT NULL,
    scopes              TEXT NOT NULL,
    scope_sort          TEXT NOT NULL,
    enabled             INTEGER NOT NULL,
    hash                BLOB NOT NULL UNIQUE,
    hint                TEXT NOT NULL,
    previous_hash       BLOB,
    previous_expires_at INTEGER,
    sealed_key          BLOB,
    created_by          TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    expires_at          INTEGER,
    last_used_at        INTEGER,
    revoked_at          INTEGER,
    revoked_reason      TEXT,
    archived_at         INTEGER,
    trusted_origins     TEXT NOT NULL,
    allowed_ips         TEXT NOT NULL,
        meta                TEXT NOT NULL,
    ratelimit           TEXT,
    quota               TEXT,
    quota_used          INTEGER NOT NULL DEFAULT 0,
    quota_period_start  INTEGER,
    version             INTEGER NOT NULL
);

CREATE INDEX api_keys_previous_hash ON api_keys (previous_hash) WHERE previous_hash IS NOT NULL;
CREATE INDEX api_keys_org_created ON api_keys (org_id, created_at, id);
CREATE INDEX api_keys_org_archived ON api_keys (org_id, archived_at) WHERE archived_at IS NOT NULL;

CREATE TABLE key_usage (
    org_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    hour   INTEGER NOT NULL,
    code   TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (key_id, hour, code)
);

CREATE TABLE idempotency (
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    sealed_body  BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (org_id, key)
);

CREATE TABLE audit_events (
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    seq         INTEGER NOT NULL,
    id          TEXT NOT NULL UNIQUE,
    occurred_at INTEGER NOT NULL,
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
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
