-- Evidence keys compare byte by byte (COLLATE "C"), as SQLite's do: ids,
-- hosts, probes and subjects are identifiers, not words, so the database's
-- linguistic collation only slowed every index insert and lookup (a locale
-- comparison per key; about an eighth of an ingest's insert time) and could
-- order a host list differently from SQLite. Changing only the collation
-- keeps the tables' rows as they are and rebuilds the indexes on them.
ALTER TABLE evidence
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN host TYPE TEXT COLLATE "C",
    ALTER COLUMN probe TYPE TEXT COLLATE "C",
    ALTER COLUMN subject TYPE TEXT COLLATE "C";
ALTER TABLE latest
    ALTER COLUMN host TYPE TEXT COLLATE "C",
    ALTER COLUMN probe TYPE TEXT COLLATE "C",
    ALTER COLUMN subject TYPE TEXT COLLATE "C";
