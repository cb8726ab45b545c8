-- Replaces luma_guest_sync.acquire_rate_budget (migration 0003) so that the shared Luma
-- budget survives the database clock stepping back. Starts are stamped with the
-- database's clock; after a step back of an hour the row held starts an hour in the
-- future, and every replica was told to wait about an hour. Now a start stamped after
-- "now" is taken as having happened now (it cannot have happened later), the corrected
-- stamps are written back so they leave the window one window later, and no answer is
-- ever longer than one window. A step forward only lets old starts expire early: at
-- most one window's worth of extra requests, once.
CREATE OR REPLACE FUNCTION luma_guest_sync.acquire_rate_budget(p_key TEXT, p_limit INTEGER, p_window_ms INTEGER)
RETURNS INTEGER
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
  window_length CONSTANT INTERVAL := make_interval(secs => p_window_ms / 1000.0);
  t_now TIMESTAMPTZ;
  stored TIMESTAMPTZ[];
  recent TIMESTAMPTZ[];
  n INTEGER;
BEGIN
  -- The row lock serialises every acquire of one key across processes (see 0003).
  SELECT b.starts INTO stored FROM luma_guest_sync.rate_budget b WHERE b.key = p_key FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO luma_guest_sync.rate_budget ("key") VALUES (p_key) ON CONFLICT ("key") DO NOTHING;
    SELECT b.starts INTO stored FROM luma_guest_sync.rate_budget b WHERE b.key = p_key FOR UPDATE;
  END IF;
  t_now := clock_timestamp();
  recent := ARRAY(
    SELECT least(s, t_now) FROM unnest(stored) AS s WHERE s > t_now - window_length ORDER BY 1
  );
  n := cardinality(recent);
  IF n < p_limit THEN
    UPDATE luma_guest_sync.rate_budget SET starts = recent || t_now WHERE "key" = p_key;
    RETURN 0;
  END IF;
  -- Refused: write back only when a future stamp was corrected, so a refusal stays a read.
  IF EXISTS (SELECT 1 FROM unnest(stored) AS s WHERE s > t_now) THEN
    UPDATE luma_guest_sync.rate_budget SET starts = recent WHERE "key" = p_key;
  END IF;
  -- The (n - p_limit + 1)-th oldest start must leave before the count drops below p_limit.
  RETURN least(
    p_window_ms,
    greatest(1, ceil(extract(epoch FROM recent[n - p_limit + 1] + window_length - t_now) * 1000))
  )::INTEGER;
END
$$;
