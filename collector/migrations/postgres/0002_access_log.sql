-- Who viewed which item, downloaded which export or snapshot, and when
-- (collector/src/access_log.rs): one log for every collector sharing the
-- database. Append-only.
CREATE TABLE access_log (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body TEXT NOT NULL
);
