-- 0004: annotations and the headline-metric index, kept beside the trace (never hashed).
--
-- annotations: tags and notes on a run. A tag is unique per run; notes may repeat.
-- run_metrics: a run's finite numeric headline metrics, so runs lists filter and sort by
-- them without reading artifacts. Derived data: rebuilt from the run's metrics output at
-- any time. A row with name '' (value NULL) says "indexed, no numeric metrics".

CREATE TABLE annotations (
    run_id     TEXT NOT NULL REFERENCES runs (id),
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_at REAL NOT NULL
);

CREATE UNIQUE INDEX annotations_one_tag ON annotations (run_id, value) WHERE kind = 'tag';
CREATE INDEX annotations_by_run ON annotations (run_id, created_at);
CREATE INDEX annotations_by_value ON annotations (kind, value, run_id);

CREATE TABLE run_metrics (
    run_id TEXT NOT NULL REFERENCES runs (id),
    name   TEXT NOT NULL,
    value  REAL,
    PRIMARY KEY (run_id, name)
) WITHOUT ROWID;

CREATE INDEX run_metrics_by_value ON run_metrics (name, value);

-- A run's forks (fork trees, "forks of" filters). Partial: plain runs are not in it, so
-- recording them writes nothing more.
CREATE INDEX runs_by_parent ON runs (parent_id) WHERE parent_id IS NOT NULL;
