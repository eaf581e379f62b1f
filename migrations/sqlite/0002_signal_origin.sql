-- aivex schema, version 2 (SQLite dialect): where a signal came from and when it was written.
-- `origin` is 'live' (composed at its created_at) or 'backfill' (composed later, as of a past
-- bar close: its created_at is that as-of time); `recorded_at` is when the row was written.
-- Rows from version 1 are live; their recorded_at is filled by version 3.
ALTER TABLE signals ADD COLUMN origin TEXT NOT NULL DEFAULT 'live'
    CHECK (origin IN ('live', 'backfill'));
ALTER TABLE signals ADD COLUMN recorded_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX signals_origin_created ON signals (origin, created_at);
