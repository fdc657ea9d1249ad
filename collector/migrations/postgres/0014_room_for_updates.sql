-- Room on each page for the rows that are updated in place: a run's
-- `last_ms` (evidence, 0012) and `latest.observed_ms` move at every
-- observation seen again, an agent's `last_seen` at every batch, and every
-- open finding's `last_seen_ms` at every assessment (0005). None
-- of these columns is indexed, so with free room on the row's page the
-- update is a heap-only tuple (HOT): no new index entries, and the old
-- version is pruned within the page. Pages filled to the brim sent every
-- such update to another page with an entry in each index, and the store
-- grew by dead versions until vacuum (about 175 bytes an observation at
-- 10,000 idle hosts). Applies to pages written from now on.
ALTER TABLE evidence SET (fillfactor = 85, autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE latest SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE agents SET (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE host_findings SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02);
