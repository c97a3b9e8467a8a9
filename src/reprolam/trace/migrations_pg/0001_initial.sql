-- 0001 (PostgreSQL): the initial trace schema, the same records as migrations/0001_initial.sql.
--
-- Migrations are append-only: never edit this file once released; add 0002_*.sql here and
-- its SQLite twin in migrations/ (both dialects move to a new SCHEMA_VERSION together).
-- The runner applies each file in one transaction, under an advisory lock, and records its
-- number in meta('schema_version').
--
-- Tables are created in current_schema(): the first schema of the search_path, so several
-- stores can share one database (DSN option: options=-csearch_path%3Dteam_a).
--
-- Numbers whose exact Python type matters (seed, created_at, finished_at, started_at,
-- duration) are kept as JSON number text: 3 stays an int and 3.0 a float (step hashes
-- depend on it), seeds of any size stay exact, NaN and infinities survive. Cast them for
-- queries: started_at::double precision. Dict fields are canonical JSON text rather than
-- jsonb because jsonb cannot hold NaN, -0.0 or "\u0000" and renormalizes numbers; cast
-- them for queries where they hold plain JSON: params::jsonb ->> 'C'.
-- Ids and digests use the "C" collation: they sort by bytes, as in SQLite, which
-- find_run_ids (prefix lookup) and the time order of UUIDv7 ids rely on.

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE runs (
    id            text COLLATE "C" PRIMARY KEY,
    workflow      text NOT NULL,
    seed          text NOT NULL,
    created_at    text NOT NULL,
    planner       text NOT NULL,
    policy        text NOT NULL,
    environment   text COLLATE "C",
    status        text NOT NULL,
    finished_at   text,
    parent_id     text COLLATE "C" REFERENCES runs (id),
    fork_index    bigint,
    overrides     text NOT NULL,
    outputs       text NOT NULL,
    error         text,
    host          text NOT NULL,
    pid           bigint NOT NULL,
    -- list_runs orders by creation time numerically; the text above stays the exact value.
    created_order double precision GENERATED ALWAYS AS (created_at::double precision) STORED
);

CREATE INDEX runs_by_created ON runs (created_order, id);

-- A step is written twice (started, then finished) with the same key, so pages keep free
-- room (fillfactor) for the second version to be a HOT update: no index write per step.
CREATE TABLE steps (
    run_id         text COLLATE "C" NOT NULL REFERENCES runs (id),
    idx            bigint NOT NULL,
    kind           text NOT NULL,
    action         text NOT NULL,
    status         text NOT NULL,
    started_at     text NOT NULL,
    action_version text NOT NULL,
    fingerprint    text NOT NULL,
    params         text NOT NULL,
    inputs         text NOT NULL,
    outputs        text NOT NULL,
    seed           text,
    duration       text,
    error          text,
    proposal       text NOT NULL,
    recovers       bigint,
    prev_hash      text NOT NULL,
    hash           text,
    PRIMARY KEY (run_id, idx)
) WITH (fillfactor = 90);

-- data holds the bytes of artifacts up to 32 KiB; NULL means the bytes are in the blob
-- directory (<artifacts>/<digest[:2]>/<digest[2:]>), written before this row.
-- producer_*: the first recorded step that output the artifact (data lineage); NULL for an
-- external input (e.g. an environment snapshot) until a step produces it.
CREATE TABLE artifacts (
    digest        text COLLATE "C" PRIMARY KEY,
    codec         text NOT NULL,
    size          bigint NOT NULL,
    data          bytea,
    producer_run  text COLLATE "C",
    producer_idx  bigint,
    producer_name text
);
