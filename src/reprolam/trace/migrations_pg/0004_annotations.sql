-- 0004 (PostgreSQL): annotations and the headline-metric index, as
-- migrations/0004_annotations.sql: kept beside the trace, never hashed.
-- A run_metrics row with name '' (value NULL) says "indexed, no numeric metrics".

CREATE TABLE annotations (
    run_id     text COLLATE "C" NOT NULL REFERENCES runs (id),
    kind       text NOT NULL,
    value      text NOT NULL,
    created_at double precision NOT NULL
);

CREATE UNIQUE INDEX annotations_one_tag ON annotations (run_id, value) WHERE kind = 'tag';
CREATE INDEX annotations_by_run ON annotations (run_id, created_at);
CREATE INDEX annotations_by_value ON annotations (kind, value, run_id);

CREATE TABLE run_metrics (
    run_id text COLLATE "C" NOT NULL REFERENCES runs (id),
    name   text NOT NULL,
    value  double precision,
    PRIMARY KEY (run_id, name)
);

CREATE INDEX run_metrics_by_value ON run_metrics (name, value);

-- A run's forks (fork trees, "forks of" filters). Partial: plain runs are not in it, so
-- recording them writes nothing more.
CREATE INDEX runs_by_parent ON runs (parent_id) WHERE parent_id IS NOT NULL;
