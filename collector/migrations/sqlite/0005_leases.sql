-- Fleet-wide leases (`Store::try_lease`): work done once for every
-- collector sharing the store, such as a scheduled snapshot.

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
