-- Issue 22: stale removal keeps the approved list where it is needed, in the database,
-- instead of in the worker's memory (two sets of every guest id and member uid of the
-- list: ~142 bytes per guest), and a sync resumed from its checkpoint can remove stale
-- guests exactly (issue 19: it used to skip removal, lacking the pages read before).
--
-- One row per page of the current read of an event's list, written by that page's
-- statement (src/sync/add-page-guests.ts) in the same statement as the page's guests and
-- checkpoint, fenced by the same claim: a row exists exactly when its page was written.
-- Page 1 of a read (from the start, or again after Luma refused a cursor) first deletes
-- the event's rows of any earlier read; the sync's finish uses the rows and deletes them.
-- No foreign key to the directory's tables: the worker's own bookkeeping.
CREATE TABLE IF NOT EXISTS luma_guest_sync.listed_page (
  "event_uid" TEXT NOT NULL,
  -- 1-based page number within the read.
  "page" INTEGER NOT NULL,
  -- Every Luma guest id on the page: usable entries and entries skipped for their email.
  "guest_ids" TEXT[] NOT NULL,
  -- Every directory member the page's emails matched.
  "member_uids" TEXT[] NOT NULL,
  -- Usable entries, and skipped entries without a usable guest id (either holds removal back).
  "fetched" INTEGER NOT NULL,
  "unidentified" INTEGER NOT NULL,
  "written_at" TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS listed_page_event_uid_idx ON luma_guest_sync.listed_page ("event_uid");
--> statement-breakpoint
-- For the clean-up of reads nobody resumes (an event deleted or unlinked mid-read).
CREATE INDEX IF NOT EXISTS listed_page_written_at_idx ON luma_guest_sync.listed_page ("written_at");
