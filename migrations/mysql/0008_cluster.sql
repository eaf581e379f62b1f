-- aivex schema, version 8 (MySQL 8 / MariaDB 10.6+ dialect): several boxes on one database.
-- `nodes`: each supervisor's heartbeat, stamped with the database's clock (UTC_TIMESTAMP(6), the
-- server's clock in UTC whatever a session's time_zone), never a box's. `leases`: one row
-- per symbol shard; `epoch` grows on every take-over and is the fencing token brain's writes
-- are checked against; `expires_at` is on the database's clock too. Signals record which node
-- decided them under which lease (NULL outside a cluster). The CREATEs are idempotent and the
-- ALTER is one statement, so a migration cut short is applied whole on the next run.
CREATE TABLE IF NOT EXISTS nodes (
    node_id    VARCHAR(64) NOT NULL,
    version    VARCHAR(32) NOT NULL,
    started_at DATETIME(6) NOT NULL,
    last_seen  DATETIME(6) NOT NULL,
    PRIMARY KEY (node_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS leases (
    shard       INT         NOT NULL,
    holder      VARCHAR(64) NULL,
    epoch       BIGINT      NOT NULL DEFAULT 0,
    expires_at  DATETIME(6) NOT NULL,
    acquired_at DATETIME(6) NULL,
    PRIMARY KEY (shard)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

ALTER TABLE signals
    ADD COLUMN node_id VARCHAR(64) NULL,
    ADD COLUMN shard INT NULL,
    ADD COLUMN epoch BIGINT NULL,
    ADD KEY signals_node (node_id);
