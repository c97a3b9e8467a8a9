-- 0002: reproductions. A run that re-executes another run to verify it names that run in
-- `verifies`; the original's reproduction history is the runs that verify it.
ALTER TABLE runs ADD COLUMN verifies TEXT REFERENCES runs (id);

CREATE INDEX runs_by_verifies ON runs (verifies, created_at) WHERE verifies IS NOT NULL;
