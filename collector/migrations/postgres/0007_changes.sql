-- The store's change counter (`Store::change_counter`): bumped in the same
-- transaction as every write that can change a verdict (evidence committed,
-- attestations, NA marks, agents registered, enrolled, revoked or
-- reinstated), so every collector sharing the store knows, cheaply, whether
-- the verdicts it keeps still stand (collector/src/evaluation.rs).
--
-- Its value is the sum of the slots' counters. A write bumps one slot chosen
-- at random: concurrent ingest commits (several writers per collector, on
-- every replica) rarely wait for each other's row lock, while the sum still
-- grows with every committed write and is never seen before the write is.
CREATE TABLE changes (
    slot    INTEGER PRIMARY KEY,
    counter BIGINT NOT NULL
);
INSERT INTO changes (slot, counter) SELECT s, 0 FROM generate_series(0, 15) s;
