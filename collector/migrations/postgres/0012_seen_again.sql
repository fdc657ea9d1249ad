-- Unchanged evidence seen again (collector/src/store/runs.rs): an evidence
-- row stands for a run of observations of one content, first observed at
-- `observed_ms` and last at `last_ms` (written with the row; NULL in rows
-- stored before this step, observed once). An observation
-- whose content equals the latest run's of its (host, probe, subject) moves
-- `last_ms` (and `latest.observed_ms`) instead of adding a row, so an idle
-- host re-sending the same evidence every cycle costs no new row.
ALTER TABLE evidence ADD COLUMN last_ms BIGINT;
-- With a row per run rather than per observation, an index on the time of
-- every row is cheap: the newest evidence of the whole fleet (the evidence
-- list without a filter) is read from its end, not sorted from a scan.
CREATE INDEX evidence_observed ON evidence (observed_ms, seq);
