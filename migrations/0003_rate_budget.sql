-- The Luma request budget every replica on one API key shares (src/providers/shared-budget.ts).
-- It lives in the worker's own schema, beside the migrator's bookkeeping; no directory
-- table is touched. One row per budget key (a hash of the API key, never the key): the
-- start times of the requests granted in the last window, oldest first. The array is
-- pruned on every grant, so a row holds at most the budget's worth of timestamps and the
-- table never grows with traffic.
CREATE SCHEMA IF NOT EXISTS luma_guest_sync;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS luma_guest_sync.rate_budget (
  "key" TEXT PRIMARY KEY,
  "starts" TIMESTAMPTZ[] NOT NULL DEFAULT '{}'
);
--> statement-breakpoint
-- Grants one request start for p_key when fewer than p_limit started in the last
-- p_window_ms, and returns 0; otherwise records nothing and returns the milliseconds
-- until the start that must leave the window has left it. One call is one round trip.
--
-- Why a function and not one plain statement: under READ COMMITTED a statement's
-- snapshot is taken before it waits for a lock, so a lone "lock, count, insert"
-- statement would count without the starts its lock's previous holder just committed.
-- Here the row lock (FOR UPDATE returns the row's latest version) serialises every
-- acquire of one key across processes, and the time is read after the lock is held,
-- from the database's clock, so the replicas' clocks do not matter.
CREATE OR REPLACE FUNCTION luma_guest_sync.acquire_rate_budget(p_key TEXT, p_limit INTEGER, p_window_ms INTEGER)
RETURNS INTEGER
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
  window_length CONSTANT INTERVAL := make_interval(secs => p_window_ms / 1000.0);
  t_now TIMESTAMPTZ;
  recent TIMESTAMPTZ[];
  n INTEGER;
BEGIN
  SELECT b.starts INTO recent FROM luma_guest_sync.rate_budget b WHERE b.key = p_key FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO luma_guest_sync.rate_budget ("key") VALUES (p_key) ON CONFLICT ("key") DO NOTHING;
    SELECT b.starts INTO recent FROM luma_guest_sync.rate_budget b WHERE b.key = p_key FOR UPDATE;
  END IF;
  t_now := clock_timestamp();
  recent := ARRAY(SELECT s FROM unnest(recent) AS s WHERE s > t_now - window_length ORDER BY s);
  n := cardinality(recent);
  IF n < p_limit THEN
    UPDATE luma_guest_sync.rate_budget SET starts = recent || t_now WHERE "key" = p_key;
    RETURN 0;
  END IF;
  -- The (n - p_limit + 1)-th oldest start must leave before the count drops below p_limit.
  RETURN greatest(1, ceil(extract(epoch FROM recent[n - p_limit + 1] + window_length - t_now) * 1000))::INTEGER;
END
$$;
