-- Which write last changed each row of `latest` (a new evidence for its key,
-- or its evidence seen again): the store's change counter as that write
-- made it (`changes`, 0010). The kept evaluation reads the rows changed
-- since its last reading (`Store::latest_changes`) instead of walking the
-- whole latest set every time. Not indexed: a scan of `latest` is cheap,
-- and an index would be written at every observation.
ALTER TABLE latest ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;
