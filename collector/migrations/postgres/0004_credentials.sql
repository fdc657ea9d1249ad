-- Credential lifecycle (collector/src/operations.rs): when a token was last
-- used, for admins listing tokens; and which certificate an agent holds.
--
-- `certificate` is the SHA-256 of the DER of the one certificate the
-- collector last issued for the agent (at enrolment or `ca issue`): ingest
-- refuses any other certificate with the agent's name, so a certificate
-- superseded by re-enrolment, or held when the agent was revoked, stays
-- refused. '' (agents issued before this step) accepts any certificate the CA
-- signed for the name; 'reinstated' accepts none until the agent enrols anew.
ALTER TABLE tokens ADD COLUMN last_used_ms BIGINT;
ALTER TABLE agents ADD COLUMN certificate TEXT NOT NULL DEFAULT '';
CREATE INDEX tokens_session_name ON tokens (kind, name);
