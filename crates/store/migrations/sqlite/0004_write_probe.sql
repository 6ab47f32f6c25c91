-- One row that readiness rewrites while writes are failing (a full disk):
-- only a write can tell whether they succeed again.
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);
