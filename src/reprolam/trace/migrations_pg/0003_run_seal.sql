-- 0003: tamper evidence for the run record itself, and the verdict of a reproduction
-- (see migrations/0003_run_seal.sql). NULL in runs recorded before.
ALTER TABLE runs ADD COLUMN header_hash text;
ALTER TABLE runs ADD COLUMN seal text;
ALTER TABLE runs ADD COLUMN verdict text;
