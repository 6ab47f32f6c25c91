-- The dashboard: members who must change a temporary password, teams, and
-- sign-in sessions. A session is stored as the SHA-256 of its cookie, never
-- the cookie itself; its one-time message (a key just created) is sealed
-- with the master key.

ALTER TABLE members ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;

CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE team_members (
    team_id   TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, member_id)
);

CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    member_id  TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    flash      BLOB
);

CREATE INDEX sessions_member ON sessions (member_id);
CREATE INDEX api_keys_org_creator ON api_keys (org_id, created_by);
