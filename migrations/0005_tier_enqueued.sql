-- The tier slot each event was last enqueued for by the freshness tick
-- (src/schedule/tier-tick.ts), in the worker's own schema. It keeps an event that is
-- still waiting in the queue from being sent again by the next tick: the queue's
-- deduplication window (5 minutes) is shorter than a tier's interval. One row per event;
-- rows of events that ended are deleted by the tick once their slot is a month old.
CREATE SCHEMA IF NOT EXISTS luma_guest_sync;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS luma_guest_sync.tier_enqueued (
  "event_uid" TEXT PRIMARY KEY,
  "slot" TIMESTAMPTZ NOT NULL
);
