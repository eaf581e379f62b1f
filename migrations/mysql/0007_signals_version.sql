-- aivex schema, version 7 (MySQL 8 / MariaDB 10.6+ dialect): the read-model version, one
-- row. Every transaction that changes what the signal endpoints show (a new signal, an
-- automatic outcome) increments it first, holding its row lock until commit, so versions
-- commit in order. It starts at 1, the version of the back-filled signals_latest rows. One
-- statement; run again, it finds the table and inserts nothing.
CREATE TABLE IF NOT EXISTS signals_version (
    id      INT    NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
SELECT 1 AS id, 1 AS version;
