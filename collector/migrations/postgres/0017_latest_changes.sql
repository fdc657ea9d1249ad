-- Which transaction last changed each row of `latest` (a new evidence for
-- its key, or its evidence seen again). The kept evaluation reads the rows
-- changed since its last reading (`Store::latest_changes`): those of
-- transactions not finished when that reading's snapshot was taken, the
-- snapshot's xmin on, whichever collector wrote them. Not indexed, so that
-- an observation seen again stays a heap-only update (0014); a scan of
-- `latest` is cheap. Rows written before this column read as changed
-- before any reading.
ALTER TABLE latest ADD COLUMN changed xid8 NOT NULL DEFAULT '0';
