-- Issue 19: the claim on an event's sync (src/sync/claim.ts), in the worker's own schema,
-- replacing the session advisory lock that died with its connection. One row per event,
-- never deleted: the row carries the fencing token, the lease and the resume checkpoint.
-- Every time in it comes from the database's clock (clock_timestamp()), never a replica's.
CREATE SCHEMA IF NOT EXISTS luma_guest_sync;
--> statement-breakpoint
-- The fencing tokens: one sequence for every event, so a token is never handed out twice
-- even if an operator deletes a claim row (a per-row counter would start again at 1).
CREATE SEQUENCE IF NOT EXISTS luma_guest_sync.event_claim_token;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS luma_guest_sync.event_claim (
  "event_uid" TEXT PRIMARY KEY,
  -- The fencing token of the latest grant: strictly increasing per event. Every write of
  -- a sync carries its token and is refused once the row holds another.
  "token" BIGINT NOT NULL,
  -- Who holds (or last held) it, for operators: host name and process id.
  "holder" TEXT NOT NULL,
  "claimed_at" TIMESTAMPTZ NOT NULL,
  -- Free once this has passed: a release sets it to the moment of release; a holder that
  -- died stops renewing, so its claim frees itself within one lease.
  "expires_at" TIMESTAMPTZ NOT NULL,
  -- The resume checkpoint, written by each page's statement: the Luma cursor of the next
  -- page to read, how many pages are done, and the Luma event the cursor belongs to (a
  -- relinked event must not resume another list's cursor). NULL cursor: start at page 1.
  "next_cursor" TEXT,
  "pages_done" INTEGER NOT NULL DEFAULT 0,
  "cursor_event_id" TEXT,
  -- When the checkpoint was last written (database clock).
  "checkpoint_at" TIMESTAMPTZ
);
--> statement-breakpoint
-- A sync refused because another holds its event is an attempt that did not run, not a
-- failure (issue 19): status and the failure counts must not show it as one; and a sync
-- that gave its message back to wait out a long Retry-After is deferred, not failed.
ALTER TABLE luma_guest_sync.sync_history DROP CONSTRAINT IF EXISTS sync_history_outcome_check;
--> statement-breakpoint
ALTER TABLE luma_guest_sync.sync_history
  ADD CONSTRAINT sync_history_outcome_check CHECK ("outcome" IN ('success', 'failure', 'refused', 'deferred'));
