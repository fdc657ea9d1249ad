-- The store's change counter (`Store::change_counter`): bumped in the same
-- transaction as every write that can change a verdict (evidence committed,
-- attestations, NA marks, agents registered, enrolled, revoked or
-- reinstated), so a collector reading the counter knows, cheaply, whether
-- the verdicts it keeps still stand (collector/src/evaluation.rs). Its value
-- is the sum of the slots' counters; SQLite has one writer and one slot.
CREATE TABLE changes (
    slot    INTEGER PRIMARY KEY,
    counter INTEGER NOT NULL
);
INSERT INTO changes (slot, counter) VALUES (0, 0);
