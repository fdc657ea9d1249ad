-- Planned maintenance windows entered by operators (`Store::add_maintenance`):
-- a service (or every service, '') stopped on purpose within
-- [start_ms, end_ms). Availability counts down time inside a window as a
-- planned stop, not a failure (collector/src/availability.rs).
CREATE TABLE maintenance (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service    TEXT NOT NULL,
    start_ms   BIGINT NOT NULL,
    end_ms     BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    by_whom    TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    CHECK (end_ms > start_ms)
);
CREATE INDEX maintenance_time ON maintenance (start_ms, end_ms);
