-- 0006 (PostgreSQL): run-state snapshots, as migrations/0006_run_snapshots.sql.
CREATE TABLE run_snapshots (
    run_id text COLLATE "C" NOT NULL REFERENCES runs (id),
    steps  bigint NOT NULL,
    head   text NOT NULL,
    state  text NOT NULL,
    PRIMARY KEY (run_id, steps)
);
