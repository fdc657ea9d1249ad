-- Who viewed which item, downloaded which export or snapshot, and when
-- (collector/src/access_log.rs). Append-only.

CREATE TABLE access_log (
    id          INTEGER PRIMARY KEY,
    body        TEXT NOT NULL
);
