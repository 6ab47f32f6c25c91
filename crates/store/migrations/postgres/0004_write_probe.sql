-- One row that a readiness check may rewrite while writes are failing: only a
-- write can tell whether they succeed again. (SQLite's readiness uses it; the
-- table is here too so that both schemas stay the same.)
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at BIGINT NOT NULL
);
