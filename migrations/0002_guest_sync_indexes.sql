-- Indexes the worker adds for speed and for duplicate safety. None touches a row.

-- Matching compares lower(btrim(email)) on both sides; the directory's own unique
-- index is on email as stored (case-sensitive), which that comparison cannot use.
CREATE INDEX IF NOT EXISTS "Member_lower_btrim_email_idx" ON "Member"(lower(btrim("email")));
--> statement-breakpoint
-- The per-page insert checks "is this member already a guest of this event?" for rows
-- the directory created too; this makes that check an index probe.
CREATE INDEX IF NOT EXISTS "PLEventGuest_eventUid_memberUid_idx" ON "PLEventGuest"("eventUid", "memberUid");
--> statement-breakpoint
-- Duplicate-proofing of synced rows is a property of the database: at most one synced
-- row per (event, location, member), whatever the number of workers writing at once.
-- Rows the directory created (externalGuestId IS NULL) stay outside the index, so it
-- builds on a live database that already holds duplicates of its own. Should synced
-- duplicates already exist (an earlier sync implementation wrote them), the index
-- starts above the highest of them instead of failing; those old rows stay untouched.
DO $$
DECLARE
  last_duplicate integer;
BEGIN
  IF to_regclass('"PLEventGuest_synced_event_location_member_key"') IS NOT NULL THEN
    RETURN;
  END IF;
  SELECT max(id) INTO last_duplicate FROM (
    SELECT id, count(*) OVER (PARTITION BY "eventUid", "locationUid", "memberUid") AS n
    FROM "PLEventGuest" WHERE "externalGuestId" IS NOT NULL
  ) d WHERE n > 1;
  IF last_duplicate IS NULL THEN
    CREATE UNIQUE INDEX "PLEventGuest_synced_event_location_member_key"
      ON "PLEventGuest"("eventUid", "locationUid", "memberUid") WHERE "externalGuestId" IS NOT NULL;
  ELSE
    RAISE NOTICE 'PLEventGuest holds synced duplicates up to id %; the unique index covers later rows', last_duplicate;
    EXECUTE format(
      'CREATE UNIQUE INDEX "PLEventGuest_synced_event_location_member_key" ON "PLEventGuest"("eventUid", "locationUid", "memberUid") WHERE "externalGuestId" IS NOT NULL AND id > %s',
      last_duplicate);
  END IF;
END $$;
