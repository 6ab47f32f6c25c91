-- Webhooks and key policies.
--
-- A webhook message is made from the audit event it reports (which commits
-- with its change), with one delivery per subscribed endpoint; workers lease a due
-- delivery (`lease_owner`, `lease_until`) so that one node sends it, and a
-- node that dies mid-delivery leaves it to the next lease. `attempts` is the
-- JSON list of attempts (at most one per step of the retry schedule).
--
-- An endpoint has two queues (`events`, and `tests` for webhook.test), each
-- delivered in order: only the oldest pending delivery of a queue has a
-- `next_attempt_at`; the others wait with NULL until the one before them
-- ends, so finding due deliveries never scans a backlog.

ALTER TABLE organizations ADD COLUMN previous_shared_secret BLOB;
ALTER TABLE organizations ADD COLUMN previous_shared_secret_until INTEGER;

CREATE TABLE key_policies (
    org_id     TEXT PRIMARY KEY REFERENCES organizations (id),
    policy     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One row per scheduled notice that fired (`expiring:7:<expires_at>`,
-- `expired:<expires_at>`, `stale:<since>`, `quota_exhausted:<period>`): the
-- primary key makes each fire once, whichever node gets there first.
CREATE TABLE key_notices (
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    key_id      TEXT NOT NULL,
    notice      TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, notice)
);

CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    url             TEXT NOT NULL,
    description     TEXT NOT NULL,
    events          TEXT NOT NULL,
    enabled         INTEGER NOT NULL,
    disabled_reason TEXT,
    failing_since   INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    version         INTEGER NOT NULL
);

CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id, created_at, id);

-- How far each organization's audit log has been dispatched to its
-- endpoints (the audit log is the outbox; see store/src/shared/outbox.rs).
CREATE TABLE webhook_cursors (
    org_id   TEXT PRIMARY KEY REFERENCES organizations (id),
    last_seq INTEGER NOT NULL
);

CREATE TABLE webhook_messages (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    event_id   TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id),
    message_id      TEXT NOT NULL REFERENCES webhook_messages (id),
    seq             INTEGER NOT NULL,
    queue           TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER,
    lease_owner     TEXT,
    lease_until     INTEGER,
    attempts        TEXT NOT NULL
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending' AND next_attempt_at IS NOT NULL;
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (endpoint_id, queue, seq, created_at, id)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, created_at, seq, id);
