-- Which agent may report for which host. A host's evidence is stored only
-- from the agent bound to it (collector/src/grpc/ingest.rs); the binding is
-- made at enrolment from the host the agent names, by `gamsa-collector ca
-- issue --host` or by an admin (`gamsa-collector agent bind`), never by what
-- an agent later claims. One agent per host; an agent may be bound to several
-- hosts only by an admin's explicit grant (none exists yet).
CREATE TABLE host_bindings (
    host     TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    bound_ms INTEGER NOT NULL
);
CREATE INDEX host_bindings_agent ON host_bindings (agent_id);

-- Agents registered before bindings existed: each agent that is not revoked
-- is bound to the host its agents row records (the host of its last Hello),
-- where no other unrevoked agent records the same host. Where two do (one of
-- them may have spoken for the other), neither is bound and both are refused
-- until an admin binds one (`gamsa-collector agent bind`) or it enrols again.
INSERT INTO host_bindings (host, agent_id, bound_ms)
    SELECT host, min(agent_id), max(last_seen) FROM agents
    WHERE host <> '' AND revoked = 0
    GROUP BY host HAVING count(*) = 1;
