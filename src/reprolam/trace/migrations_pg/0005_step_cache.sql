-- 0005 (PostgreSQL): the store-wide step cache, as migrations/0005_step_cache.sql.
CREATE INDEX steps_by_cache_key ON steps (action, fingerprint, seed)
    WHERE kind = 'action' AND status = 'succeeded';
