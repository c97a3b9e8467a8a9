-- 0001: the initial trace schema: runs, steps, content-addressed artifacts, lineage.
--
-- Migrations are append-only: never edit this file once released; add 0002_*.sql.
-- The runner applies each file in one transaction and records its number in
-- meta('schema_version').
--
-- Columns declared without a type have no SQLite affinity, so a value keeps its exact
-- Python type: an int stays an int and a float a float (REAL or NUMERIC affinity would
-- turn 3 into 3.0 or 3.0 into 3, which changes step hashes), and a seed beyond 64 bits
-- is kept exactly as decimal text. Dict fields are canonical JSON text.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    workflow    TEXT NOT NULL,
    seed        NOT NULL,
    created_at  NOT NULL,
    planner     TEXT NOT NULL,
    policy      TEXT NOT NULL,
    environment TEXT,
    status      TEXT NOT NULL,
    finished_at,
    parent_id   TEXT REFERENCES runs (id),
    fork_index  INTEGER,
    overrides   TEXT NOT NULL,
    outputs     TEXT NOT NULL,
    error       TEXT,
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL
);

CREATE INDEX runs_by_created_at ON runs (created_at, id);

-- One row per step, clustered by (run_id, idx): a run's steps sit together and a new step
-- is appended next to the previous one (one page touched per commit, usually).
CREATE TABLE steps (
    run_id         TEXT NOT NULL REFERENCES runs (id),
    idx            INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    action         TEXT NOT NULL,
    status         TEXT NOT NULL,
    started_at     NOT NULL,
    action_version TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    params         TEXT NOT NULL,
    inputs         TEXT NOT NULL,
    outputs        TEXT NOT NULL,
    seed,
    duration,
    error          TEXT,
    proposal       TEXT NOT NULL,
    recovers       INTEGER,
    prev_hash      TEXT NOT NULL,
    hash           TEXT,
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;

-- Artifacts, clustered by digest: one B-tree, so storing a new artifact touches one page.
-- data holds the bytes of artifacts up to 32 KiB; NULL means the bytes are in the blob
-- directory (<artifacts>/<digest[:2]>/<digest[2:]>), written before this row.
-- producer_*: the first recorded step that output the artifact (data lineage); NULL for an
-- external input (e.g. an environment snapshot) until a step produces it.
CREATE TABLE artifacts (
    digest        TEXT PRIMARY KEY,
    codec         TEXT NOT NULL,
    size          INTEGER NOT NULL,
    data          BLOB,
    producer_run  TEXT,
    producer_idx  INTEGER,
    producer_name TEXT
) WITHOUT ROWID;
