-- aivex schema, version 1 (MySQL 8 / MariaDB 10.6+ dialect). Append-only: never edit an
-- applied migration, add a new numbered file instead (the store refuses to run when a
-- checksum changes). MySQL DDL is not transactional, so every statement is
-- `IF NOT EXISTS`: a run that died half-way can simply be run again.
-- Only SQL common to MySQL and MariaDB. `interval` is a reserved word there: always quoted.
-- Timestamps are Unix seconds UTC (BIGINT); dates are 'YYYY-MM-DD' strings.

CREATE TABLE IF NOT EXISTS ohlcv (
    symbol     VARCHAR(32)  NOT NULL,
    `interval` VARCHAR(16)  NOT NULL,
    ts         BIGINT       NOT NULL,
    open       DOUBLE       NOT NULL,
    high       DOUBLE       NOT NULL,
    low        DOUBLE       NOT NULL,
    close      DOUBLE       NOT NULL,
    adj_close  DOUBLE       NULL,
    volume     DOUBLE       NOT NULL,
    source     VARCHAR(64)  NOT NULL,
    PRIMARY KEY (symbol, `interval`, ts)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS news_articles (
    id               VARCHAR(128)  NOT NULL,
    source           VARCHAR(128)  NOT NULL,
    url              VARCHAR(2048) NOT NULL,
    title            TEXT          NOT NULL,
    summary          MEDIUMTEXT    NOT NULL,
    published_at     BIGINT        NULL,
    ingested_at      BIGINT        NOT NULL,
    sentiment        DOUBLE        NOT NULL,
    sentiment_method VARCHAR(64)   NOT NULL,
    tickers          TEXT          NOT NULL,
    PRIMARY KEY (id),
    KEY news_articles_published (published_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS news_tickers (
    article_id VARCHAR(128) NOT NULL,
    ticker     VARCHAR(32)  NOT NULL,
    PRIMARY KEY (ticker, article_id),
    KEY news_tickers_article (article_id),
    CONSTRAINT news_tickers_article_fk FOREIGN KEY (article_id)
        REFERENCES news_articles (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS fundamentals (
    id         BIGINT       NOT NULL AUTO_INCREMENT,
    symbol     VARCHAR(32)  NOT NULL,
    metric     VARCHAR(128) NOT NULL,
    period_end CHAR(10)     NOT NULL,
    value      DOUBLE       NOT NULL,
    unit       VARCHAR(32)  NOT NULL,
    filed      VARCHAR(10)  NOT NULL,
    source     VARCHAR(64)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY fundamentals_natural (symbol, metric, period_end, source)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS components (
    symbol      VARCHAR(32) NOT NULL,
    kind        VARCHAR(16) NOT NULL,
    value       DOUBLE      NOT NULL,
    as_of       BIGINT      NOT NULL,
    computed_at BIGINT      NOT NULL,
    detail      MEDIUMTEXT  NOT NULL,
    PRIMARY KEY (symbol, kind),
    CONSTRAINT components_kind CHECK (kind IN ('chart', 'news', 'metrics'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS signals (
    id         VARCHAR(64) NOT NULL,
    symbol     VARCHAR(32) NOT NULL,
    created_at BIGINT      NOT NULL,
    direction  INT         NOT NULL,
    score      DOUBLE      NOT NULL,
    confidence DOUBLE      NOT NULL,
    horizon_s  BIGINT      NOT NULL,
    components MEDIUMTEXT  NOT NULL,
    decision   VARCHAR(8)  NOT NULL,
    reasons    TEXT        NOT NULL,
    PRIMARY KEY (id),
    KEY signals_symbol_created (symbol, created_at),
    KEY signals_created (created_at),
    CONSTRAINT signals_decision CHECK (decision IN ('allow', 'deny'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS governor_log (
    id           BIGINT      NOT NULL AUTO_INCREMENT,
    signal_id    VARCHAR(64) NOT NULL,
    symbol       VARCHAR(32) NOT NULL,
    decision     VARCHAR(8)  NOT NULL,
    reason_codes TEXT        NOT NULL,
    rules        MEDIUMTEXT  NOT NULL,
    config_hash  VARCHAR(128) NOT NULL,
    at           BIGINT      NOT NULL,
    PRIMARY KEY (id),
    KEY governor_log_signal (signal_id),
    KEY governor_log_at (at),
    CONSTRAINT governor_log_signal_fk FOREIGN KEY (signal_id) REFERENCES signals (id),
    CONSTRAINT governor_log_decision CHECK (decision IN ('allow', 'deny'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS signal_feedback (
    id              BIGINT       NOT NULL AUTO_INCREMENT,
    signal_id       VARCHAR(64)  NOT NULL,
    source          VARCHAR(64)  NOT NULL,
    outcome         VARCHAR(64)  NOT NULL,
    realized_return DOUBLE       NULL,
    horizon_s       BIGINT       NULL,
    note            TEXT         NULL,
    at              BIGINT       NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY signal_feedback_natural (signal_id, source),
    KEY signal_feedback_at (at),
    CONSTRAINT signal_feedback_signal_fk FOREIGN KEY (signal_id) REFERENCES signals (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
