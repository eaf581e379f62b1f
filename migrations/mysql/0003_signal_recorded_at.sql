-- aivex schema, version 3 (MySQL 8 / MariaDB 10.6+ dialect): a signal written before version 2
-- was written when it was composed, so its recorded_at is its created_at. Safe to run again.
UPDATE signals SET recorded_at = created_at WHERE recorded_at = 0;
