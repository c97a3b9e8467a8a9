-- 0005: the store-wide step cache. `reuse` looks up a finished action step anywhere in the
-- store by its cache key (action, version, code fingerprint, params, inputs, seed). The
-- partial index holds succeeded action steps only and leads with the few columns that
-- narrow a lookup to a handful of rows; params, inputs and version are compared on those.
CREATE INDEX steps_by_cache_key ON steps (action, fingerprint, seed)
    WHERE kind = 'action' AND status = 'succeeded';
