-- 0002 (PostgreSQL): reproductions, as migrations/0002_verifications.sql. A run that
-- re-executes another run to verify it names that run in `verifies`; the original's
-- reproduction history is the runs that verify it.
ALTER TABLE runs ADD COLUMN verifies text COLLATE "C" REFERENCES runs (id);

CREATE INDEX runs_by_verifies ON runs (verifies, created_order) WHERE verifies IS NOT NULL;
