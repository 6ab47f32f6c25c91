-- Organization-wide usage (GET /v1/usage, the dashboard's overview): the
-- hourly counters of key_usage summed per organization, project, hour and
-- outcome, written in the same transaction as key_usage. A year of an
-- organization's usage is at most 8,760 hours per project and outcome,
-- however many keys it has.

CREATE TABLE org_usage (
    org_id     TEXT NOT NULL,
    project_id TEXT NOT NULL,
    hour       INTEGER NOT NULL,
    code       TEXT NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (org_id, hour, project_id, code)
);

-- What was counted before: the keys' own projects (a purged key's counts,
-- if any are left, under no project).
INSERT INTO org_usage (org_id, project_id, hour, code, count)
SELECT u.org_id, COALESCE(k.project_id, ''), u.hour, u.code, SUM(u.count)
FROM key_usage u LEFT JOIN api_keys k ON k.id = u.key_id
GROUP BY u.org_id, COALESCE(k.project_id, ''), u.hour, u.code;

-- The keys with the most use in a period.
CREATE INDEX key_usage_org_hour ON key_usage (org_id, hour, key_id, count);

-- The keys of a project, and an organization's root keys, without reading
-- every key of the organization (the keys with the most use leave root keys
-- out, or keep one project's).
CREATE INDEX api_keys_org_project ON api_keys (org_id, project_id);
CREATE INDEX api_keys_org_root ON api_keys (org_id) WHERE root;

-- Keys about to expire (the overview's list), without reading every key.
CREATE INDEX api_keys_org_expires ON api_keys (org_id, expires_at) WHERE expires_at IS NOT NULL;
