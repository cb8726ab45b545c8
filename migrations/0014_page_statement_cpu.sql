-- Issue 22: a first sync's page statements cost its database backend ~1.4× the CPU of
-- writing the same rows in one bulk INSERT, and one connection per running sync makes that
-- the bound of the sync's time. Two of the functions the page statement calls did work on
-- every call that changes no result (perf of the backend, docs/performance.md §1). Both
-- are replaced in place: same names, arguments, results and grants; no row is touched.
--
-- 1. luma_guest_sync.not_yet_guests (0013) was a SQL function. PostgreSQL never inlines a
-- function with a SET clause, and runs a SQL function that is not inlined by parsing and
-- planning its query again on every call: ~half of the function's cost, once per page.
-- The same query in PL/pgSQL is parsed once per session and its plan kept in the
-- session's plan cache (re-planned when the statistics of "PLEventGuest" change, and
-- always under the function's own `enable_seqscan = off`, which is why 0013 made it a
-- function: the probe stays an index probe whatever the statistics say). Everything else
-- is 0013's: STABLE (the calling statement's snapshot), keyed by the event alone, one
-- LIMIT 1 probe per member, search_path pinned to pg_catalog (pg_temp last), the
-- directory's table qualified with the schema the migrations run in, SECURITY INVOKER,
-- EXECUTE to PUBLIC (kept by CREATE OR REPLACE, granted again for a database where it was
-- revoked by hand).
DO $$
BEGIN
  EXECUTE format($f$
    CREATE OR REPLACE FUNCTION luma_guest_sync.not_yet_guests(p_event_uid text, p_member_uids text[])
    RETURNS SETOF text
    LANGUAGE plpgsql STABLE
    ROWS 100
    SET enable_seqscan = off
    SET search_path = pg_catalog, pg_temp
    AS $body$
    BEGIN
      RETURN QUERY
        SELECT m.uid FROM unnest(p_member_uids) AS m(uid)
        LEFT JOIN LATERAL (
          SELECT 1 AS listed FROM %I."PLEventGuest" g
          WHERE g."eventUid" = p_event_uid AND g."memberUid" = m.uid
          LIMIT 1
        ) existing ON true
        WHERE existing.listed IS NULL;
    END
    $body$
  $f$, current_schema());
END $$;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION luma_guest_sync.not_yet_guests(text, text[]) TO PUBLIC;
--> statement-breakpoint
-- 2. luma_guest_sync.normalize_email (0007) ran normalize(…, 'NFC') on every address,
-- 1.3 µs of its 1.7 µs, and PostgreSQL 15 has no quick check that skips ASCII. On ASCII
-- (every byte one character: octet_length = length in a UTF8 database) NFC changes
-- nothing and no whitespace of the trimmed set but the ASCII six can occur, so the result
-- is lower(btrim(email, ASCII whitespace)) — the same text the full function gives, which
-- test/sync/email-normalisation.test.ts checks over tricky inputs. Every other address
-- takes 0007's expression unchanged.
--
-- No longer STRICT: PostgreSQL inlines a STRICT SQL function only when its body is
-- strict throughout, and CASE is not; a function that is not inlined runs as a SQL
-- function call per address, many times slower. NULL still gives NULL (every call in the
-- body is strict). Still IMMUTABLE, PARALLEL SAFE, every call schema-qualified and no SET
-- clause (a SET clause would stop the inlining too; the body reads no table and names
-- nothing outside pg_catalog). On a database that is not UTF8, 0007's ASCII-only function
-- stays as it is.
--
-- The index "Member_normalized_email_idx" is built on this function: PostgreSQL cannot
-- know that the new body gives the same results, so the index is rebuilt here rather than
-- trusted (a few seconds at the directory's size; writes to "Member" wait for it).
DO $$
BEGIN
  IF pg_catalog.getdatabaseencoding() <> 'UTF8' THEN
    RETURN;
  END IF;
  EXECUTE $f$
    CREATE OR REPLACE FUNCTION luma_guest_sync.normalize_email(email text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $body$
      SELECT CASE
        WHEN pg_catalog.octet_length(email) = pg_catalog.length(email)
          THEN pg_catalog.lower(pg_catalog.btrim(email, U&'\0009\000A\000B\000C\000D\0020'))
        ELSE pg_catalog.normalize(
          pg_catalog.lower(pg_catalog.btrim(email,
            U&'\0009\000A\000B\000C\000D\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000\FEFF')),
          'NFC')
      END
    $body$
  $f$;
  REINDEX INDEX "Member_normalized_email_idx";
END $$;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION luma_guest_sync.normalize_email(text) TO PUBLIC;
