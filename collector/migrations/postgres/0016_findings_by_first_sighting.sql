-- The monthly report counts and lists the findings first seen in a month
-- (`Store::findings_in`): by this index, it reads the month's records
-- only, as it reads those fixed in a month by `host_findings_fixed`.

CREATE INDEX host_findings_first_seen ON host_findings (first_seen_ms);
