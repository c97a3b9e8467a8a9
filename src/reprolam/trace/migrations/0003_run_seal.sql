-- 0003: tamper evidence for the run record itself, and the verdict of a reproduction.
-- header_hash: hash of the fields that determine what ran (the genesis of the run's step
-- chain); seal: hash anchoring a finished run (its end fields, step count, last step hash
-- and the metadata of every artifact it refers to). Both NULL in runs recorded before.
-- verdict: identical | within-tolerance | diverged, on a run that verifies another.
ALTER TABLE runs ADD COLUMN header_hash TEXT;
ALTER TABLE runs ADD COLUMN seal TEXT;
ALTER TABLE runs ADD COLUMN verdict TEXT;
