-- The newest evidence of every (host, probe, subject), kept by ingest in the
-- same transaction as the evidence and filled here from what is stored;
-- attestations and NA marks (append-only JSON bodies) and the uploaded
-- documents, stored by SHA-256.

CREATE TABLE latest (
    host         TEXT NOT NULL,
    probe        TEXT NOT NULL,
    subject      TEXT NOT NULL,
    evidence_seq INTEGER NOT NULL,
    observed_ms  INTEGER NOT NULL,
    PRIMARY KEY (host, probe, subject)
) WITHOUT ROWID;
INSERT INTO latest (host, probe, subject, evidence_seq, observed_ms)
    SELECT host, probe, subject, seq, max(observed_ms) FROM evidence GROUP BY host, probe, subject;
CREATE TABLE attestations (
    id          INTEGER PRIMARY KEY,
    body        TEXT NOT NULL
);
CREATE TABLE na_marks (
    id          INTEGER PRIMARY KEY,
    body        TEXT NOT NULL
);
CREATE TABLE files (
    sha256      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    content     BLOB NOT NULL
);
