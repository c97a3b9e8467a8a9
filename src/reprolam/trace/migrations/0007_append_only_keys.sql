-- 0007: recording never inserts at a random place in a big B-tree (see trace/_sqlite_keys.py).
--
-- artifacts becomes a rowid table in the order artifacts were stored (seq), so a new one is
-- appended. Lookups by digest and by step cache key go through narrow key tables in three
-- levels: new keys land in a tiny *_recent table, merged now and then into *_middle, merged
-- in turn into the main one in one sorted pass. The step cache's index of 0005 is replaced by step_keys.
-- reprolam_step_key is registered by the migration runner (the hash of a step's cache key);
-- texts are handed to it as blobs, so a damaged row (a text that is not UTF-8) cannot fail it.

CREATE TABLE artifacts_by_seq (
    seq           INTEGER PRIMARY KEY,
    digest        TEXT NOT NULL,
    codec         TEXT NOT NULL,
    size          INTEGER NOT NULL,
    data          BLOB,
    producer_run  TEXT,
    producer_idx  INTEGER,
    producer_name TEXT
);

INSERT INTO artifacts_by_seq (digest, codec, size, data, producer_run, producer_idx, producer_name)
    SELECT digest, codec, size, data, producer_run, producer_idx, producer_name FROM artifacts;

DROP TABLE artifacts;

ALTER TABLE artifacts_by_seq RENAME TO artifacts;

-- key: the digest's first 8 hex digits (the full digest is compared on the row).
CREATE TABLE artifact_keys (
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (key, seq)
) WITHOUT ROWID;

CREATE TABLE artifact_keys_middle (
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (key, seq)
) WITHOUT ROWID;

CREATE TABLE artifact_keys_recent (
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (key, seq)
) WITHOUT ROWID;

INSERT INTO artifact_keys (key, seq) SELECT substr(digest, 1, 8), seq FROM artifacts ORDER BY 1, 2;

CREATE VIEW artifact_index AS
    SELECT key, seq FROM artifact_keys
    UNION ALL SELECT key, seq FROM artifact_keys_middle
    UNION ALL SELECT key, seq FROM artifact_keys_recent;

-- Runs by number: step keys name a run by its number, 5x narrower than its id.
CREATE TABLE run_numbers (
    num    INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE
);

INSERT INTO run_numbers (run_id) SELECT id FROM runs ORDER BY id;

-- key: a 64-bit hash of (action, action_version, fingerprint, params, inputs, seed) of a
-- succeeded action step (every column is compared on the step row); num: its run's number.
CREATE TABLE step_keys (
    key INTEGER NOT NULL,
    num INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (key, num, idx)
) WITHOUT ROWID;

CREATE TABLE step_keys_middle (
    key INTEGER NOT NULL,
    num INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (key, num, idx)
) WITHOUT ROWID;

CREATE TABLE step_keys_recent (
    key INTEGER NOT NULL,
    num INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (key, num, idx)
) WITHOUT ROWID;

INSERT INTO step_keys (key, num, idx)
    SELECT reprolam_step_key(CAST(s.action AS BLOB), CAST(s.action_version AS BLOB),
                             CAST(s.fingerprint AS BLOB), CAST(s.params AS BLOB),
                             CAST(s.inputs AS BLOB),
                             CASE typeof(s.seed) WHEN 'text' THEN CAST(s.seed AS BLOB)
                                  ELSE s.seed END),
           r.num, s.idx
    FROM steps AS s JOIN run_numbers AS r ON r.run_id = s.run_id
    WHERE s.kind = 'action' AND s.status = 'succeeded' ORDER BY 1, 2, 3;

CREATE VIEW step_index AS
    SELECT key, num, idx FROM step_keys
    UNION ALL SELECT key, num, idx FROM step_keys_middle
    UNION ALL SELECT key, num, idx FROM step_keys_recent;

DROP INDEX steps_by_cache_key;
