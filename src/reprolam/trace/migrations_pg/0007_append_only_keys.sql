-- 0007: nothing changes in PostgreSQL. SQLite's 0007 moves its artifact and step-cache
-- lookups to append-only key tables (see trace/_sqlite_keys.py); PostgreSQL keeps its
-- digest-keyed artifacts table and its step-cache index. Numbered to keep both dialects'
-- versions equal.
SELECT 1;
