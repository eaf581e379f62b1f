-- aivex schema, version 8 (SQLite dialect): the cluster tables, so both dialects keep one
-- schema. A cluster needs MySQL/MariaDB (config refuses [cluster] on SQLite), so on SQLite these
-- tables stay empty and the new signal columns NULL. Times are UTC text with microseconds,
-- the shape MySQL's DATETIME(6) has.
CREATE TABLE IF NOT EXISTS nodes (
    node_id    TEXT NOT NULL PRIMARY KEY,
    version    TEXT NOT NULL,
    started_at TEXT NOT NULL,
    last_seen  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    shard       INTEGER NOT NULL PRIMARY KEY,
    holder      TEXT NULL,
    epoch       INTEGER NOT NULL DEFAULT 0,
    expires_at  TEXT NOT NULL,
    acquired_at TEXT NULL
);
ALTER TABLE signals ADD COLUMN node_id TEXT NULL;
ALTER TABLE signals ADD COLUMN shard INTEGER NULL;
ALTER TABLE signals ADD COLUMN epoch INTEGER NULL;
CREATE INDEX signals_node ON signals (node_id);
