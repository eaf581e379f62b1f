-- aivex schema, version 3 (SQLite dialect): a signal written before version 2 was written when
-- it was composed, so its recorded_at is its created_at.
UPDATE signals SET recorded_at = created_at WHERE recorded_at = 0;
