//! aivex-store: the store: one interface over embedded SQLite and MySQL/MariaDB, schema migrations, idempotent batched writes
