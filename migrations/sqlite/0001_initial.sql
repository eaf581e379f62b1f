-- aivex schema, version 1 (SQLite dialect). Append-only: never edit an applied migration,
-- add a new numbered file instead (the store refuses to run when a checksum changes).
-- Timestamps are Unix seconds UTC (INTEGER); dates are 'YYYY-MM-DD' text.

CREATE TABLE ohlcv (
    symbol    TEXT    NOT NULL,
    interval  TEXT    NOT NULL,
    ts        INTEGER NOT NULL,
    open      REAL    NOT NULL,
    high      REAL    NOT NULL,
    low       REAL    NOT NULL,
    close     REAL    NOT NULL,
    adj_close REAL,
    volume    REAL    NOT NULL,
    source    TEXT    NOT NULL,
    PRIMARY KEY (symbol, interval, ts)
) WITHOUT ROWID;

CREATE TABLE news_articles (
    id               TEXT    NOT NULL PRIMARY KEY,
    source           TEXT    NOT NULL,
    url              TEXT    NOT NULL,
    title            TEXT    NOT NULL,
    summary          TEXT    NOT NULL,
    published_at     INTEGER,
    ingested_at      INTEGER NOT NULL,
    sentiment        REAL    NOT NULL,
    sentiment_method TEXT    NOT NULL,
    tickers          TEXT    NOT NULL
);
CREATE INDEX news_articles_published ON news_articles (published_at);

CREATE TABLE news_tickers (
    article_id TEXT NOT NULL REFERENCES news_articles (id) ON DELETE CASCADE,
    ticker     TEXT NOT NULL,
    PRIMARY KEY (ticker, article_id)
) WITHOUT ROWID;
CREATE INDEX news_tickers_article ON news_tickers (article_id);

CREATE TABLE fundamentals (
    symbol     TEXT NOT NULL,
    metric     TEXT NOT NULL,
    period_end TEXT NOT NULL,
    value      REAL NOT NULL,
    unit       TEXT NOT NULL,
    filed      TEXT NOT NULL,
    source     TEXT NOT NULL,
    UNIQUE (symbol, metric, period_end, source)
);

CREATE TABLE components (
    symbol      TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('chart', 'news', 'metrics')),
    value       REAL    NOT NULL,
    as_of       INTEGER NOT NULL,
    computed_at INTEGER NOT NULL,
    detail      TEXT    NOT NULL,
    UNIQUE (symbol, kind)
);

CREATE TABLE signals (
    id         TEXT    NOT NULL PRIMARY KEY,
    symbol     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    direction  INTEGER NOT NULL,
    score      REAL    NOT NULL,
    confidence REAL    NOT NULL,
    horizon_s  INTEGER NOT NULL,
    components TEXT    NOT NULL,
    decision   TEXT    NOT NULL CHECK (decision IN ('allow', 'deny')),
    reasons    TEXT    NOT NULL
);
CREATE INDEX signals_symbol_created ON signals (symbol, created_at);
CREATE INDEX signals_created ON signals (created_at);

CREATE TABLE governor_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    signal_id    TEXT    NOT NULL REFERENCES signals (id),
    symbol       TEXT    NOT NULL,
    decision     TEXT    NOT NULL CHECK (decision IN ('allow', 'deny')),
    reason_codes TEXT    NOT NULL,
    rules        TEXT    NOT NULL,
    config_hash  TEXT    NOT NULL,
    at           INTEGER NOT NULL
);
CREATE INDEX governor_log_signal ON governor_log (signal_id);
CREATE INDEX governor_log_at ON governor_log (at);

CREATE TABLE signal_feedback (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    signal_id       TEXT    NOT NULL REFERENCES signals (id),
    source          TEXT    NOT NULL,
    outcome         TEXT    NOT NULL,
    realized_return REAL,
    horizon_s       INTEGER,
    note            TEXT,
    at              INTEGER NOT NULL,
    UNIQUE (signal_id, source)
);
CREATE INDEX signal_feedback_at ON signal_feedback (at);
