-- Deduplicated evidence (collector/src/store/rows.rs): an evidence's content
-- (everything but its id and observedAt) is kept once per distinct value, by
-- the SHA-256 of its protobuf encoding; each observation stays one `evidence`
-- row (its id, the columns it is queried by, its observedAt as `body`) that
-- references its content by `body_seq`. An agent re-sending unchanged
-- evidence every cycle adds a row of about 200 bytes, not the whole body.
--
-- Rows stored before this step keep the whole evidence in `body` and a NULL
-- `body_seq`, and read as before; retention (`[retention]`) removes them in
-- time like any other.
CREATE TABLE evidence_bodies (
    seq  INTEGER PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    body BLOB NOT NULL
);
ALTER TABLE evidence ADD COLUMN body_seq INTEGER;
-- Which rows use a body: retention removes a body once no row does.
CREATE INDEX evidence_body ON evidence (body_seq);
