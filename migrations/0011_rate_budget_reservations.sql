-- The shared Luma budget wasted up to a fifth of each window on a busy machine
-- (docs/performance-budget.md), in two places this migration removes:
--
-- 1. A caller refused a slot was told "at least this long", slept, and asked again: one
--    more round trip at the moment the slot freed, one caller after another. When the slot
--    that frees next belongs to a request that has ENDED, its time is exact (its end plus
--    one window), so reserve_rate_slot grants it now, for then: the slot is recorded as a
--    hold starting at that time, and the caller sleeps until it, then sends. Only when a
--    request still in flight must end first is the answer a lower bound, as before.
--
-- 2. A request's end was stamped when end_rate_slot ran, after its round trip and after
--    waiting for the key's row lock. The three-argument end_rate_slot stamps the earlier
--    of two times the request had certainly ended by: when that call reached the database
--    (statement_timestamp(), before any lock wait), and the caller's bound: a reserve call
--    reached the database (asked_at) after the caller made it, so at the caller's moment
--    T the database's clock read at most asked_at plus the time the caller measured from
--    making that call to T. Both are at or after the real end.
--
-- A hold may now lie up to one window ahead (a reservation); one further ahead is a clock
-- step back, taken as one window ahead (0006's rule for ends stays: an end ahead of now
-- is taken as now). take_rate_slot and the two-argument end_rate_slot (0009) stay, for
-- replicas not yet upgraded: they count a reservation as a request in flight, so they
-- never grant over it; the old take_rate_slot rewrites holds it sees ahead of now to now,
-- which makes the reserving replica's end miss its hold, which then counts until it
-- expires (late, never early).
CREATE OR REPLACE FUNCTION luma_guest_sync.reserve_rate_slot(
  p_key TEXT,
  p_limit INTEGER,
  p_window_ms INTEGER,
  p_hold_ms INTEGER,
  OUT wait_ms INTEGER,
  OUT slot_at TIMESTAMPTZ,
  OUT asked_at TIMESTAMPTZ
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
  settled TIMESTAMPTZ[];
  n INTEGER;
  k INTEGER;
BEGIN
  -- When this call reached the database: no later than the caller sent it.
  asked_at := statement_timestamp();
  SELECT b.starts, b.holds INTO stored_ends, stored_holds FROM luma_guest_sync.rate_budget b WHERE b.key = p_key FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO luma_guest_sync.rate_budget ("key") VALUES (p_key) ON CONFLICT ("key") DO NOTHING;
    SELECT b.starts, b.holds INTO stored_ends, stored_holds FROM luma_guest_sync.rate_budget b WHERE b.key = p_key FOR UPDATE;
  END IF;
  t_now := clock_timestamp();
  ended := ARRAY(SELECT least(s, t_now) FROM unnest(stored_ends) AS s WHERE s > t_now - window_length ORDER BY 1);
  held := ARRAY(
    SELECT least(h, t_now + window_length) FROM unnest(stored_holds) AS h
    WHERE h > t_now - hold_length - window_length ORDER BY 1
  );
  IF EXISTS (SELECT 1 FROM unnest(stored_ends) AS s WHERE s > t_now)
    OR EXISTS (SELECT 1 FROM unnest(stored_holds) AS h WHERE h > t_now + window_length) THEN
    UPDATE luma_guest_sync.rate_budget SET starts = ended, holds = held WHERE "key" = p_key;
  END IF;
  n := cardinality(ended) + cardinality(held);
  IF n < p_limit THEN
    slot_at := t_now;
  ELSE
    -- The requests whose leaving time is known: ended ones (one window after their end) and
    -- holds past their hold (one window after it ran out). Each leaves by now + one window;
    -- a request in flight leaves one window after an end still to come, so after all of them.
    settled := ARRAY(
      SELECT x FROM (
        SELECT e AS x FROM unnest(ended) AS e
        UNION ALL
        SELECT h + hold_length FROM unnest(held) AS h WHERE h + hold_length <= t_now
      ) AS known ORDER BY 1
    );
    k := n - p_limit + 1;
    IF k > cardinality(settled) THEN
      -- A request in flight must end first: it cannot leave before one window from now.
      wait_ms := p_window_ms;
      slot_at := NULL;
      RETURN;
    END IF;
    -- Once the k-th of them has left, limit - 1 others remain: the slot is free from then on.
    slot_at := greatest(t_now, settled[k] + window_length);
  END IF;
  -- A hold is found (and ended) by its time, so no two may share one.
  WHILE slot_at = ANY (held) LOOP
    slot_at := slot_at + interval '1 microsecond';
  END LOOP;
  UPDATE luma_guest_sync.rate_budget SET starts = ended, holds = held || slot_at WHERE "key" = p_key;
  wait_ms := ceil(extract(epoch FROM slot_at - t_now) * 1000)::INTEGER;
END
$$;
--> statement-breakpoint
-- The request of the slot starting at p_slot_at has ended, by p_ended_by at the latest
-- (the caller's bound, as above; NULL when it has none). Stamped with the earlier of that
-- bound and when this call reached the database, never before the slot's start. A hold
-- already expired is left so.
CREATE OR REPLACE FUNCTION luma_guest_sync.end_rate_slot(p_key TEXT, p_slot_at TIMESTAMPTZ, p_ended_by TIMESTAMPTZ)
RETURNS VOID
LANGUAGE plpgsql
VOLATILE
AS $$
BEGIN
  UPDATE luma_guest_sync.rate_budget
  SET holds = array_remove(holds, p_slot_at),
    starts = starts || greatest(p_slot_at, least(statement_timestamp(), coalesce(p_ended_by, statement_timestamp())))
  WHERE "key" = p_key AND p_slot_at = ANY (holds);
END
$$;
--> statement-breakpoint
-- The slot reserved for p_slot_at will not be used: its caller gave up before sending.
-- Its caller never sent a request for it, so it counts for nothing.
CREATE OR REPLACE FUNCTION luma_guest_sync.release_rate_slot(p_key TEXT, p_slot_at TIMESTAMPTZ)
RETURNS VOID
LANGUAGE plpgsql
VOLATILE
AS $$
BEGIN
  UPDATE luma_guest_sync.rate_budget
  SET holds = array_remove(holds, p_slot_at)
  WHERE "key" = p_key AND p_slot_at = ANY (holds);
END
$$;
