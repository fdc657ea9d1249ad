-- An open finding seen failing at the last assessment keeps `last_seen_ms`
-- NULL, read as that assessment's time (`assessments.last_ms`): a finding
-- failing at every assessment is not rewritten at each, which left a dead
-- row version per open finding and assessment. It is set when the finding
-- is fixed, or not told at an assessment (then to the one before).

ALTER TABLE host_findings ALTER COLUMN last_seen_ms DROP NOT NULL;
UPDATE host_findings SET last_seen_ms = NULL
WHERE fixed_ms IS NULL AND last_seen_ms = (SELECT last_ms FROM assessments WHERE id = 1);
-- Written at transitions only, its pages need no room for updates (0014).
ALTER TABLE host_findings SET (fillfactor = 100);
