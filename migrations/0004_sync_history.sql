-- One row per sync attempt (src/history/record-attempt.ts), in the worker's own schema:
-- no directory table is touched. Written once when an attempt ends, never per page.
-- The scheduler reads it (the pages an event last took, when it last succeeded) and
-- operators read it (the last attempt of each event, the recent history of one).
-- Retention is bounded by the writer, which deletes a bounded batch of rows past
-- PL_EVENT_GUEST_SYNC_HISTORY_RETENTION_DAYS in the same statement as its insert.
CREATE SCHEMA IF NOT EXISTS luma_guest_sync;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS luma_guest_sync.sync_history (
  "id" BIGSERIAL PRIMARY KEY,
  "event_uid" TEXT NOT NULL,
  -- What asked for the sync: the daily pass, a freshness tier, a Luma webhook, or a person.
  "trigger" TEXT NOT NULL CHECK ("trigger" IN ('schedule', 'tier', 'webhook', 'manual')),
  "started_at" TIMESTAMPTZ NOT NULL,
  "finished_at" TIMESTAMPTZ NOT NULL,
  "outcome" TEXT NOT NULL CHECK ("outcome" IN ('success', 'failure')),
  -- errorKind() of src/errors.ts for a failure; NULL for a success.
  "error_kind" TEXT,
  -- The counts of the sync's result; NULL for a failure, which returns none.
  "pages" INTEGER,
  "fetched" INTEGER,
  "matched" INTEGER,
  "created" INTEGER,
  "removed" INTEGER,
  "skipped" INTEGER,
  -- Approved guests whose email matches no directory member (fetched - matched).
  "without_account" INTEGER
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS sync_history_event_started_idx
  ON luma_guest_sync.sync_history ("event_uid", "started_at" DESC);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS sync_history_finished_idx ON luma_guest_sync.sync_history ("finished_at");
