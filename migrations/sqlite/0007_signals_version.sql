-- aivex schema, version 7 (SQLite dialect): the read-model version, one row. Every
-- transaction that changes what the signal endpoints show (a new signal, an automatic
-- outcome) increments it first; it starts at 1, the version of the back-filled
-- signals_latest rows.
CREATE TABLE signals_version (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO signals_version (id, version) VALUES (1, 1);
