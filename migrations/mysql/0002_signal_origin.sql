-- aivex schema, version 2 (MySQL 8 / MariaDB 10.6+ dialect): where a signal came from and
-- when it was written. `origin` is 'live' (composed at its created_at) or 'backfill' (composed
-- later, as of a past bar close: its created_at is that as-of time); `recorded_at` is when the
-- row was written. One ALTER statement, so it is applied whole or not at all (MySQL has no
-- ADD COLUMN IF NOT EXISTS); rows from version 1 are live, their recorded_at is version 3's.
ALTER TABLE signals
    ADD COLUMN origin VARCHAR(8) NOT NULL DEFAULT 'live',
    ADD COLUMN recorded_at BIGINT NOT NULL DEFAULT 0,
    ADD CONSTRAINT signals_origin CHECK (origin IN ('live', 'backfill')),
    ADD KEY signals_origin_created (origin, created_at);
