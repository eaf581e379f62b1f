-- aivex schema, version 6 (MySQL 8 / MariaDB 10.6+ dialect): the latest signal of each
-- symbol, one row per symbol, so "latest per symbol" is one indexed read. Written in the same
-- transaction as every signal (`record_decision`, a back-fill batch). `version` is the
-- read-model version (signals_version, migration 7) at which the symbol's view last changed:
-- a new signal, or an automatic outcome on one of its signals. One statement (MySQL DDL is
-- not transactional) that creates the table and back-fills it from the signals already
-- stored, all at version 1; run again, it finds the table and inserts nothing.
CREATE TABLE IF NOT EXISTS signals_latest (
    symbol     VARCHAR(32) NOT NULL,
    signal_id  VARCHAR(64) NOT NULL,
    created_at BIGINT      NOT NULL,
    version    BIGINT      NOT NULL,
    PRIMARY KEY (symbol),
    KEY signals_latest_version (version),
    KEY signals_latest_created (created_at, signal_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
SELECT s.symbol AS symbol, s.id AS signal_id, s.created_at AS created_at, 1 AS version
FROM signals s
WHERE s.id = (SELECT s2.id FROM signals s2 WHERE s2.symbol = s.symbol
              ORDER BY s2.created_at DESC, s2.id DESC LIMIT 1);
