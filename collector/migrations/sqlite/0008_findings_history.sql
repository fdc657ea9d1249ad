-- The assessment history (`Store::record_assessment`): each finding (a host
-- failing one check of one checklist item) as the stretches of time it stayed
-- open, not one row per evaluation. A finding seen failing again moves its
-- open row's `last_seen_ms`; fresh evidence that it passes sets `fixed_ms`;
-- a host that cannot be told leaves it open. At most one open row per key.

CREATE TABLE host_findings (
    host          TEXT NOT NULL,
    catalog       TEXT NOT NULL,
    item          TEXT NOT NULL,
    check_name    TEXT NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    fixed_ms      INTEGER,
    PRIMARY KEY (host, catalog, item, check_name, first_seen_ms)
);
CREATE UNIQUE INDEX host_findings_open ON host_findings (host, catalog, item, check_name)
    WHERE fixed_ms IS NULL;
CREATE INDEX host_findings_fixed ON host_findings (fixed_ms);

-- When findings were assessed: one row.
CREATE TABLE assessments (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    first_ms    INTEGER NOT NULL,
    previous_ms INTEGER,
    last_ms     INTEGER NOT NULL
);
