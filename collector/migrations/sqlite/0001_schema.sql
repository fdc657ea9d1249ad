-- The gamsa schema on SQLite: evidence (append-only, idempotent on `id`),
-- agents and tokens. Files are applied in order, each in its own
-- transaction, and `PRAGMA user_version` records the number of the last one
-- applied; never edited after release (a change is a new numbered file).

CREATE TABLE evidence (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    agent_id    TEXT NOT NULL,
    host        TEXT NOT NULL,
    probe       TEXT NOT NULL,
    subject     TEXT NOT NULL,
    status      INTEGER NOT NULL,
    observed_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    body        BLOB NOT NULL
);
CREATE INDEX evidence_probe_observed ON evidence (probe, observed_ms);
CREATE INDEX evidence_host_observed ON evidence (host, observed_ms);
CREATE TABLE agents (
    agent_id     TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    version      TEXT NOT NULL,
    os           TEXT NOT NULL,
    kernel       TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    labels       TEXT NOT NULL,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    peer         TEXT NOT NULL,
    revoked      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    max_uses   INTEGER NOT NULL,
    uses       INTEGER NOT NULL DEFAULT 0
);
