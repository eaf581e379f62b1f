-- aivex schema, version 4 (SQLite dialect): every filing of a fact is kept. A value restated in
-- a later filing is a new row (its own `filed` date) instead of overwriting the first one, so
-- the store can answer "what was known at t" (the latest filing with filed <= t). SQLite cannot
-- change a table's UNIQUE constraint in place: the table is rebuilt with the new key.
CREATE TABLE fundamentals_filings (
    symbol     TEXT NOT NULL,
    metric     TEXT NOT NULL,
    period_end TEXT NOT NULL,
    value      REAL NOT NULL,
    unit       TEXT NOT NULL,
    filed      TEXT NOT NULL,
    source     TEXT NOT NULL,
    UNIQUE (symbol, metric, period_end, source, filed)
);
INSERT INTO fundamentals_filings (symbol, metric, period_end, value, unit, filed, source)
    SELECT symbol, metric, period_end, value, unit, filed, source FROM fundamentals;
DROP TABLE fundamentals;
ALTER TABLE fundamentals_filings RENAME TO fundamentals;
