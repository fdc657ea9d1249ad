-- The gamsa schema on PostgreSQL: the same tables as the SQLite store
-- (collector/src/store/sqlite.rs), plus fleet-wide leases. Applied once by
-- the first collector to start, under sqlx's advisory lock; never edited
-- after release (a change is a new numbered file).

CREATE TABLE evidence (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    agent_id    TEXT NOT NULL,
    host        TEXT NOT NULL,
    probe       TEXT NOT NULL,
    subject     TEXT NOT NULL,
    status      INTEGER NOT NULL,
    observed_ms BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    body        BYTEA NOT NULL
);
CREATE INDEX evidence_probe_observed ON evidence (probe, observed_ms);
CREATE INDEX evidence_host_observed ON evidence (host, observed_ms);

-- The newest evidence of every (host, probe, subject), kept in the same
-- transaction as the evidence it points at.
CREATE TABLE latest (
    host         TEXT NOT NULL,
    probe        TEXT NOT NULL,
    subject      TEXT NOT NULL,
    evidence_seq BIGINT NOT NULL,
    observed_ms  BIGINT NOT NULL,
    PRIMARY KEY (host, probe, subject)
);

CREATE TABLE agents (
    agent_id     TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    version      TEXT NOT NULL,
    os           TEXT NOT NULL,
    kernel       TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    labels       TEXT NOT NULL,
    first_seen   BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL,
    peer         TEXT NOT NULL,
    revoked      BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    max_uses   BIGINT NOT NULL,
    uses       BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE attestations (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE na_marks (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE files (
    sha256  TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    content BYTEA NOT NULL
);

CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL
);

-- One row per lease name: who holds it and until when (Unix ms).
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
