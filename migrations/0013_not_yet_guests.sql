-- Issue 19: a running sync uses the pool's connections only, on a direct connection too.
--
-- The page statement (src/sync/add-page-guests.ts) asks, for each member a page matched,
-- whether the member is already a guest of the event. It is prepared, so PostgreSQL plans
-- it once (the generic plan) and keeps that plan until the statistics of a table it reads
-- change. Planned while "PLEventGuest" is empty or its statistics say it is small (a new
-- environment, a cleaned staging copy, statistics that predate a large event), that probe
-- became a sequential scan per member, kept while the sync grows the table: quadratic.
-- The worker used to prevent it with `enable_seqscan = off` on a connection of its own per
-- running sync (or, behind a transaction-mode pooler, in a transaction of its own per
-- page). The probe now lives in this function, whose definition carries the setting: a
-- function with a SET clause is never inlined, and its body is planned under its own
-- settings whatever the caller's, so the probe is an index probe of
-- "PLEventGuest_eventUid_memberUid_idx" on any connection, in or outside a transaction,
-- through a pooler or not, whatever the statistics say.
--
-- STABLE: it reads with the snapshot of the statement that calls it (a page statement's
-- own insert is not seen, as before). Keyed by the event alone: after an event moved, its
-- members are still its guests. One call per page, one probe per member (LIMIT 1 keeps
-- each probe a subquery of its own: as an anti-join, the planner could read all of the
-- event's rows instead, which grows with the sync).
--
-- Hardening, as 0007 and 0010: search_path pinned to pg_catalog (and pg_temp last, so no
-- temporary table can stand in for a table it reads), the directory's table qualified
-- with the schema the migrations run in (the worker's own, as for every directory table
-- of 0000). SECURITY INVOKER (the default): it reads "PLEventGuest" with the caller's
-- privileges, so it reveals nothing the caller could not read. EXECUTE goes to PUBLIC,
-- as 0010 does for normalize_email: a hardened database (EXECUTE on new functions revoked
-- from PUBLIC by default) lets the worker's role, granted the list of docs/security.md
-- before this migration, keep syncing without a new grant.
DO $$
BEGIN
  EXECUTE format($f$
    CREATE OR REPLACE FUNCTION luma_guest_sync.not_yet_guests(p_event_uid text, p_member_uids text[])
    RETURNS SETOF text
    LANGUAGE sql STABLE
    ROWS 100
    SET enable_seqscan = off
    SET search_path = pg_catalog, pg_temp
    AS $body$
      SELECT m.uid FROM unnest(p_member_uids) AS m(uid)
      LEFT JOIN LATERAL (
        SELECT 1 AS listed FROM %I."PLEventGuest" g
        WHERE g."eventUid" = p_event_uid AND g."memberUid" = m.uid
        LIMIT 1
      ) existing ON true
      WHERE existing.listed IS NULL
    $body$
  $f$, current_schema());
END $$;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION luma_guest_sync.not_yet_guests(text, text[]) TO PUBLIC;
