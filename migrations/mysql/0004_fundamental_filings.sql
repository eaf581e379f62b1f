-- aivex schema, version 4 (MySQL 8 / MariaDB 10.6+ dialect): every filing of a fact is kept. A
-- value restated in a later filing is a new row (its own `filed` date) instead of overwriting
-- the first one, so the store can answer "what was known at t" (the latest filing with
-- filed <= t). One ALTER statement: the key is swapped whole or not at all.
ALTER TABLE fundamentals
    DROP INDEX fundamentals_natural,
    ADD UNIQUE KEY fundamentals_filing (symbol, metric, period_end, source, filed);
