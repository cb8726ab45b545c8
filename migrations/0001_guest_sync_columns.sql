-- What guest sync adds to the directory schema (directory-schema.md, "What guest sync
-- adds"): one enum, four nullable columns, two indexes. Adding a nullable column
-- without a default rewrites no rows and takes only a brief lock.
DO $$ BEGIN
  CREATE TYPE "ExternalEventProvider" AS ENUM ('LUMA');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
--> statement-breakpoint
ALTER TABLE "PLEvent" ADD COLUMN IF NOT EXISTS "externalEventProvider" "ExternalEventProvider";
--> statement-breakpoint
ALTER TABLE "PLEvent" ADD COLUMN IF NOT EXISTS "externalEventId" TEXT;
--> statement-breakpoint
ALTER TABLE "PLEvent" ADD COLUMN IF NOT EXISTS "guestLastSyncedAt" TIMESTAMP(3);
--> statement-breakpoint
ALTER TABLE "PLEventGuest" ADD COLUMN IF NOT EXISTS "externalGuestId" TEXT;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "PLEventGuest_externalGuestId_idx" ON "PLEventGuest"("externalGuestId");
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "PLEvent_externalEventProvider_externalEventId_idx" ON "PLEvent"("externalEventProvider", "externalEventId");
