-- 0006: run-state snapshots (see reprolam/trace/snapshot.py). The state a run's first
-- `steps` steps add up to (artifact names -> digests, action counts, counters) and the
-- hash of step `steps - 1`, kept every few dozen steps and at the run's end, so a fork or
-- a resume reads one snapshot and a few steps instead of the whole trace, and a runs list
-- counts steps without reading them. Derived data: never hashed into the trace; audit
-- checks each snapshot against the steps it summarizes. Runs recorded before have none
-- (their steps are read, as before).
CREATE TABLE run_snapshots (
    run_id TEXT NOT NULL REFERENCES runs (id),
    steps  INTEGER NOT NULL,
    head   TEXT NOT NULL,
    state  TEXT NOT NULL,
    PRIMARY KEY (run_id, steps)
) WITHOUT ROWID;
