-- The shared Luma budget counts each request until one window after it ended, not after
-- it was granted (src/providers/rate-limit.ts says why: on a busy machine a request
-- reached Luma up to 700 ms after its grant, so a slot granted again one window after the
-- grant could land inside Luma's window of the request it replaced, and Luma answered 429).
--
-- rate_budget gains "holds": the grant times of the requests in flight. take_rate_slot
-- records a grant there; end_rate_slot, called when the request's answer has arrived (or
-- it failed), moves it to "starts", which from now on holds the END time of each request
-- that ended in the last window. A hold never ended (its process died) counts as a
-- request that ended p_hold_ms (the request timeout) after its grant.
--
-- acquire_rate_budget (0003, 0006) stays for replicas not yet upgraded during a rolling
-- deploy; it ignores holds, so during the roll-out those replicas count less than they
-- should. Upgrade all replicas of one key together where a 429 matters.
ALTER TABLE luma_guest_sync.rate_budget ADD COLUMN IF NOT EXISTS "holds" TIMESTAMPTZ[] NOT NULL DEFAULT '{}';
--> statement-breakpoint
-- Grants one request start for p_key when fewer than p_limit requests are in flight or
-- ended in the last p_window_ms, returning wait_ms 0 and the grant's time (for
-- end_rate_slot); otherwise records nothing and returns, in wait_ms, how long at least
-- until a slot frees: a request in flight cannot leave before one window from now, since
-- it could end this instant, so the answer is a lower bound and the caller asks again.
-- Serialised per key by the row lock, timed by the database's clock, and robust to that
-- clock stepping back, as in 0006.
CREATE OR REPLACE FUNCTION luma_guest_sync.take_rate_slot(
  p_key TEXT,
  p_limit INTEGER,
  p_window_ms INTEGER,
  p_hold_ms INTEGER,
  OUT wait_ms INTEGER,
  OUT granted_at TIMESTAMPTZ
)
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
  window_length CONSTANT INTERVAL := make_interval(secs => p_window_ms / 1000.0);
  hold_length CONSTANT INTERVAL := make_interval(secs => p_hold_ms / 1000.0);
  t_now TIMESTAMPTZ;
  stored_ends TIMESTAMPTZ[];
  stored_holds TIMESTAMPTZ[];
  ended TIMESTAMPTZ[];
  held TIMESTAMPTZ[];
  leaving TIMESTAMPTZ[];
  n INTEGER;
BEGIN
  SELECT b.starts, b.holds INTO stored_ends, stored_holds FROM luma_guest_sync.rate_budget b WHERE b.key = p_key FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO luma_guest_sync.rate_budget ("key") VALUES (p_key) ON CONFLICT ("key") DO NOTHING;
    SELECT b.starts, b.holds INTO stored_ends, stored_holds FROM luma_guest_sync.rate_budget b WHERE b.key = p_key FOR UPDATE;
  END IF;
  t_now := clock_timestamp();
  -- A stamp after "now" is a clock step back: it happened now at the latest (0006).
  ended := ARRAY(SELECT least(s, t_now) FROM unnest(stored_ends) AS s WHERE s > t_now - window_length ORDER BY 1);
  held := ARRAY(
    SELECT least(h, t_now) FROM unnest(stored_holds) AS h WHERE h > t_now - hold_length - window_length ORDER BY 1
  );
  n := cardinality(ended) + cardinality(held);
  IF n < p_limit THEN
    UPDATE luma_guest_sync.rate_budget SET starts = ended, holds = held || t_now WHERE "key" = p_key;
    wait_ms := 0;
    granted_at := t_now;
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(stored_ends || stored_holds) AS s WHERE s > t_now) THEN
    UPDATE luma_guest_sync.rate_budget SET starts = ended, holds = held WHERE "key" = p_key;
  END IF;
  -- Ended requests leave one window after their end; one in flight one window after it
  -- ends, which is now at the earliest and its hold's end at the latest.
  leaving := ARRAY(
    SELECT e + window_length FROM unnest(ended) AS e
    UNION ALL
    SELECT least(t_now, h + hold_length) + window_length FROM unnest(held) AS h
    ORDER BY 1
  );
  wait_ms := least(
    p_window_ms,
    greatest(1, ceil(extract(epoch FROM leaving[n - p_limit + 1] - t_now) * 1000))
  )::INTEGER;
  granted_at := NULL;
END
$$;
--> statement-breakpoint
-- The request granted at p_granted_at has ended: its hold becomes an end stamped with the
-- database's clock. A hold already expired (counted as ended at its hold's end) is left so.
CREATE OR REPLACE FUNCTION luma_guest_sync.end_rate_slot(p_key TEXT, p_granted_at TIMESTAMPTZ)
RETURNS VOID
LANGUAGE plpgsql
VOLATILE
AS $$
BEGIN
  UPDATE luma_guest_sync.rate_budget
  SET holds = array_remove(holds, p_granted_at), starts = starts || clock_timestamp()
  WHERE "key" = p_key AND p_granted_at = ANY (holds);
END
$$;
