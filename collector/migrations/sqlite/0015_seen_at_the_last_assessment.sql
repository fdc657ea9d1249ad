-- An open finding seen failing at the last assessment keeps `last_seen_ms`
-- NULL, read as that assessment's time (`assessments.last_ms`): a finding
-- failing at every assessment is not rewritten at each. It is set when the
-- finding is fixed, or not told at an assessment (then to the one before).
-- SQLite cannot drop a NOT NULL, so the table is made again.

CREATE TABLE host_findings_next (
    host          TEXT NOT NULL,
    catalog       TEXT NOT NULL,
    item          TEXT NOT NULL,
    check_name    TEXT NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER,
    fixed_ms      INTEGER,
    PRIMARY KEY (host, catalog, item, check_name, first_seen_ms)
);
INSERT INTO host_findings_next
SELECT host, catalog, item, check_name, first_seen_ms,
       CASE WHEN fixed_ms IS NULL
             AND last_seen_ms = (SELECT last_ms FROM assessments WHERE id = 1)
            THEN NULL ELSE last_seen_ms END,
       fixed_ms
FROM host_findings;
DROP TABLE host_findings;
ALTER TABLE host_findings_next RENAME TO host_findings;
CREATE UNIQUE INDEX host_findings_open ON host_findings (host, catalog, item, check_name)
    WHERE fixed_ms IS NULL;
CREATE INDEX host_findings_fixed ON host_findings (fixed_ms);
