-- aivex schema, version 5 (MySQL 8 / MariaDB 10.6+ dialect): how far brain's back-fill of each
-- symbol got. A row is planned once per symbol (its window fixed then) and advanced in the
-- same transaction as the signals of each batch, so a killed back-fill resumes exactly where
-- its last committed batch ended. `planned_at` groups the symbols planned together.
CREATE TABLE IF NOT EXISTS backfill_progress (
    symbol      VARCHAR(32) NOT NULL,
    planned_at  BIGINT      NOT NULL,
    window_from BIGINT      NOT NULL,
    window_to   BIGINT      NOT NULL,
    done_until  BIGINT      NOT NULL,
    updated_at  BIGINT      NOT NULL,
    PRIMARY KEY (symbol)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
