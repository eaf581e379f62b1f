-- aivex schema, version 5 (SQLite dialect): how far brain's back-fill of each symbol got.
-- A row is planned once per symbol (its window fixed then) and advanced in the same
-- transaction as the signals of each batch, so a killed back-fill resumes exactly where its
-- last committed batch ended. `planned_at` groups the symbols planned together (one replay).
CREATE TABLE backfill_progress (
    symbol      TEXT    NOT NULL PRIMARY KEY,
    planned_at  INTEGER NOT NULL,
    window_from INTEGER NOT NULL,
    window_to   INTEGER NOT NULL,
    done_until  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
