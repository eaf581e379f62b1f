-- aivex schema, version 6 (SQLite dialect): the latest signal of each symbol, one row per
-- symbol, so "latest per symbol" is one indexed read. Written in the same transaction as
-- every signal (`record_decision`, a back-fill batch). `version` is the read-model version
-- (signals_version, migration 7) at which the symbol's view last changed: a new signal, or
-- an automatic outcome on one of its signals; readers ask for rows newer than a version.
-- Back-filled here from the signals already stored, all at version 1.
CREATE TABLE signals_latest (
    symbol     TEXT    NOT NULL PRIMARY KEY,
    signal_id  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    version    INTEGER NOT NULL
);
CREATE INDEX signals_latest_version ON signals_latest (version);
CREATE INDEX signals_latest_created ON signals_latest (created_at, signal_id);
INSERT INTO signals_latest (symbol, signal_id, created_at, version)
SELECT s.symbol, s.id, s.created_at, 1
FROM signals s
WHERE s.id IN (
    SELECT (SELECT s2.id FROM signals s2 WHERE s2.symbol = d.symbol
            ORDER BY s2.created_at DESC, s2.id DESC LIMIT 1)
    FROM (SELECT DISTINCT symbol FROM signals) d
);
