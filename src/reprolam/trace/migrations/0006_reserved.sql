-- 0006: reserved for the lead's migration of this round (issue 21, the recording path).
-- A no-op on this branch only, so 0007 follows a complete sequence; replaced at integration.
SELECT 1;
