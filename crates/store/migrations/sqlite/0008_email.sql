-- Email: key notices to the people responsible, and the audit export by
-- email (crates/store/src/shared/mail.rs).
--
-- Like webhooks, notices follow each organization's audit log from a cursor
-- (mail_cursors): a notice event becomes one message per recipient, in the
-- same transaction that moves the cursor, so each is queued once. An export
-- requested by email is queued with its request's audit event. Workers lease
-- a due message (lease_owner, lease_until) so that one node sends it.

CREATE TABLE mail_cursors (
    org_id   TEXT PRIMARY KEY REFERENCES organizations (id),
    last_seq INTEGER NOT NULL
);

-- Organizations that exist now start from their current event: what
-- happened before email existed is not mailed.
INSERT INTO mail_cursors (org_id, last_seq)
SELECT o.id, COALESCE((SELECT MAX(a.seq) FROM audit_events a WHERE a.org_id = o.id), 0)
FROM organizations o;

-- Members who turned notice emails off.
CREATE TABLE mail_opt_outs (
    member_id  TEXT PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    created_at INTEGER NOT NULL
);

-- kind: 'notice' (payload: the event's webhook payload) or 'audit_export'
-- (payload: the request; the export covers the events before audit_seq).
-- status: 'pending', 'sent' or 'failed'.
CREATE TABLE mail_messages (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    kind            TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    audit_seq       INTEGER NOT NULL,
    member_id       TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER,
    attempts        INTEGER NOT NULL,
    last_error      TEXT,
    sent_at         INTEGER,
    lease_owner     TEXT,
    lease_until     INTEGER,
    UNIQUE (event_id, member_id)
);

CREATE INDEX mail_messages_due ON mail_messages (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX mail_messages_org ON mail_messages (org_id, kind, status);

-- One-time links to exports too large to attach: the SHA-256 of the token
-- in the link, never the token.
CREATE TABLE export_links (
    token_hash BLOB PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    message_id TEXT NOT NULL,
    payload    TEXT NOT NULL,
    audit_seq  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
