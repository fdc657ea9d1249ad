-- Finding keys compare byte by byte (COLLATE "C"), as evidence keys do
-- (0010): the findings list is ordered by its key COLLATE "C", so the key's
-- index can give a page in order. With the database's collation the whole
-- history (every finding of the fleet) was read, grouped and sorted for
-- each page of fifty. Changing only the collation keeps the rows as they
-- are and rebuilds the indexes on them.
ALTER TABLE host_findings
    ALTER COLUMN host TYPE TEXT COLLATE "C",
    ALTER COLUMN catalog TYPE TEXT COLLATE "C",
    ALTER COLUMN item TYPE TEXT COLLATE "C",
    ALTER COLUMN check_name TYPE TEXT COLLATE "C";
