-- Deduplicated evidence (collector/src/store/rows.rs): an evidence's content
-- (everything but its id and observedAt) is kept once per distinct value, by
-- the SHA-256 of its protobuf encoding; each observation stays one `evidence`
-- row (its id, the columns it is queried by, its observedAt as `body`) that
-- references its content by `body_seq`. An agent re-sending unchanged
-- evidence every cycle adds a small row, not the whole body.
--
-- Rows stored before this step keep the whole evidence in `body` and a NULL
-- `body_seq`, and read as before; retention (`[retention]`) removes them in
-- time like any other.
--
-- Bodies are inserted by ingest holding the advisory lock `BODIES_LOCK`
-- (collector/src/store/postgres.rs) shared, and deleted by retention holding
-- it exclusively: a body is never deleted between ingest finding it and
-- committing a row that references it.
CREATE TABLE evidence_bodies (
    seq  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash BYTEA NOT NULL UNIQUE,
    body BYTEA NOT NULL
);
ALTER TABLE evidence ADD COLUMN body_seq BIGINT;
-- Which rows use a body: retention removes a body once no row does.
CREATE INDEX evidence_body ON evidence (body_seq);
