-- A host's page reads the agents of that host, not the whole fleet's.
CREATE INDEX agents_host ON agents (host);
