-- Issue 10: one email normalisation for both sides of matching, and at most one synced
-- guest row per (event, member) whatever location the event moves to. No row is touched.
CREATE SCHEMA IF NOT EXISTS luma_guest_sync;
--> statement-breakpoint
-- The one normalisation of an email, applied alike to Luma's and the directory's (the
-- page statement calls it on both; README, "Matching"): every Unicode whitespace
-- character trimmed from both ends — JavaScript's \s set (which Luma's emails are
-- already trimmed with) plus U+0085 — then PostgreSQL's lower(), then NFC, so that one
-- address written precomposed or decomposed is one address. SQL, IMMUTABLE and
-- schema-qualified so the planner inlines it and the index below matches the page
-- statement's expression. Unicode escapes and normalize() need a UTF8 database (the
-- directory's is); on any other encoding (a bare local initdb gives SQL_ASCII) the
-- function trims ASCII whitespace and lower-cases only, and says so.
DO $$
BEGIN
  IF pg_catalog.getdatabaseencoding() = 'UTF8' THEN
    EXECUTE $f$
      CREATE OR REPLACE FUNCTION luma_guest_sync.normalize_email(email text) RETURNS text
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
      AS $body$
        SELECT pg_catalog.normalize(
          pg_catalog.lower(pg_catalog.btrim(email,
            U&'\0009\000A\000B\000C\000D\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000\FEFF')),
          'NFC')
      $body$
    $f$;
  ELSE
    RAISE NOTICE 'database encoding is %, not UTF8: emails are matched with ASCII whitespace trimmed and lower(), without NFC',
      pg_catalog.getdatabaseencoding();
    EXECUTE $f$
      CREATE OR REPLACE FUNCTION luma_guest_sync.normalize_email(email text) RETURNS text
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
      AS $body$ SELECT pg_catalog.lower(pg_catalog.btrim(email, E' \t\n\r\f\x0B')) $body$
    $f$;
  END IF;
END $$;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "Member_normalized_email_idx" ON "Member"(luma_guest_sync.normalize_email("email"));
--> statement-breakpoint
-- Replaced by the index above; matching no longer uses lower(btrim(email)).
DROP INDEX IF EXISTS "Member_lower_btrim_email_idx";
--> statement-breakpoint
-- At most one synced row per (event, member): the location is left out, since an event
-- can move and its synced rows move with it. Built like 0002's index: should synced
-- duplicates already exist (the location-keyed check let a moved event get a second row
-- per member), the index starts above the highest of them instead of failing, and
-- those rows stay untouched.
DO $$
DECLARE
  last_duplicate integer;
BEGIN
  IF to_regclass('"PLEventGuest_synced_event_member_key"') IS NOT NULL THEN
    RETURN;
  END IF;
  SELECT max(id) INTO last_duplicate FROM (
    SELECT id, count(*) OVER (PARTITION BY "eventUid", "memberUid") AS n
    FROM "PLEventGuest" WHERE "externalGuestId" IS NOT NULL
  ) d WHERE n > 1;
  IF last_duplicate IS NULL THEN
    CREATE UNIQUE INDEX "PLEventGuest_synced_event_member_key"
      ON "PLEventGuest"("eventUid", "memberUid") WHERE "externalGuestId" IS NOT NULL;
  ELSE
    RAISE NOTICE 'PLEventGuest holds synced (event, member) duplicates up to id %; the unique index covers later rows', last_duplicate;
    EXECUTE format(
      'CREATE UNIQUE INDEX "PLEventGuest_synced_event_member_key" ON "PLEventGuest"("eventUid", "memberUid") WHERE "externalGuestId" IS NOT NULL AND id > %s',
      last_duplicate);
  END IF;
END $$;
--> statement-breakpoint
-- Superseded by the stricter index above; one index fewer to maintain on every insert.
DROP INDEX IF EXISTS "PLEventGuest_synced_event_location_member_key";
