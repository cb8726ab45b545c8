-- The directory tables guest sync reads and writes, in the shape the directory's own
-- Prisma migrations give them. On a live directory database every statement here is a
-- no-op (IF NOT EXISTS / duplicate_object): this file exists so that an empty database
-- (local runs, tests) has a directory to sync into. Never alter a directory table here.
DO $$ BEGIN
  CREATE TYPE "MemberApprovalState" AS ENUM ('PENDING', 'APPROVED', 'REJECTED', 'VERIFIED');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
--> statement-breakpoint
DO $$ BEGIN
  CREATE TYPE "TeamStatus" AS ENUM ('ACTIVE', 'INACTIVE');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
--> statement-breakpoint
DO $$ BEGIN
  CREATE TYPE "PLEventType" AS ENUM ('INVITE_ONLY', 'VIRTUAL', 'IN_PERSON');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
--> statement-breakpoint
DO $$ BEGIN
  CREATE TYPE "IrlGatheringPushRuleKind" AS ENUM ('UPCOMING', 'REMINDER');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
--> statement-breakpoint
DO $$ BEGIN
  CREATE TYPE "PushNotificationCategory" AS ENUM ('IRL_GATHERING');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "Image" (
  "id" SERIAL PRIMARY KEY,
  "uid" TEXT NOT NULL,
  "url" TEXT NOT NULL,
  "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" TIMESTAMP(3) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "Image_uid_key" ON "Image"("uid");
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "Member" (
  "id" SERIAL PRIMARY KEY,
  "uid" TEXT NOT NULL,
  "name" TEXT NOT NULL,
  "email" TEXT,
  "imageUid" TEXT REFERENCES "Image"("uid") ON DELETE SET NULL ON UPDATE CASCADE,
  "deletedAt" TIMESTAMP(3),
  "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" TIMESTAMP(3) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "Member_uid_key" ON "Member"("uid");
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "Member_email_key" ON "Member"("email");
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "MemberApproval" (
  "id" SERIAL PRIMARY KEY,
  "uid" TEXT NOT NULL,
  "memberUid" TEXT NOT NULL REFERENCES "Member"("uid") ON DELETE CASCADE ON UPDATE CASCADE,
  "state" "MemberApprovalState" NOT NULL DEFAULT 'PENDING',
  "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" TIMESTAMP(3) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "MemberApproval_uid_key" ON "MemberApproval"("uid");
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "MemberApproval_memberUid_key" ON "MemberApproval"("memberUid");
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "Team" (
  "id" SERIAL PRIMARY KEY,
  "uid" TEXT NOT NULL,
  "name" TEXT NOT NULL,
  "status" "TeamStatus",
  "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" TIMESTAMP(3) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "Team_uid_key" ON "Team"("uid");
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "Team_name_key" ON "Team"("name");
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "TeamMemberRole" (
  "id" SERIAL PRIMARY KEY,
  "memberUid" TEXT NOT NULL REFERENCES "Member"("uid") ON DELETE CASCADE ON UPDATE CASCADE,
  "teamUid" TEXT NOT NULL REFERENCES "Team"("uid") ON DELETE CASCADE ON UPDATE CASCADE,
  "mainTeam" BOOLEAN NOT NULL DEFAULT false,
  "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" TIMESTAMP(3) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "TeamMemberRole_memberUid_teamUid_key" ON "TeamMemberRole"("memberUid", "teamUid");
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "TeamMemberRole_memberUid_mainTeam_key" ON "TeamMemberRole"("memberUid") WHERE "mainTeam" = true;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "PLEventLocation" (
  "id" SERIAL PRIMARY KEY,
  "uid" TEXT NOT NULL,
  "location" TEXT NOT NULL,
  "description" TEXT,
  "country" TEXT,
  "timezone" TEXT,
  "latitude" TEXT,
  "longitude" TEXT,
  "flag" TEXT,
  "icon" TEXT,
  "resources" JSONB[],
  "isDeleted" BOOLEAN NOT NULL DEFAULT false,
  "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" TIMESTAMP(3) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "PLEventLocation_uid_key" ON "PLEventLocation"("uid");
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "PLEvent" (
  "id" SERIAL PRIMARY KEY,
  "uid" TEXT NOT NULL,
  "name" TEXT NOT NULL,
  "slugURL" TEXT NOT NULL,
  "type" "PLEventType",
  "startDate" TIMESTAMP(3) NOT NULL,
  "endDate" TIMESTAMP(3) NOT NULL,
  "locationUid" TEXT REFERENCES "PLEventLocation"("uid") ON DELETE SET NULL ON UPDATE CASCADE,
  "isDeleted" BOOLEAN NOT NULL DEFAULT false,
  "websiteURL" TEXT,
  "telegramId" TEXT,
  "logoUid" TEXT REFERENCES "Image"("uid") ON DELETE SET NULL ON UPDATE CASCADE,
  "resources" JSONB[],
  "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" TIMESTAMP(3) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "PLEvent_uid_key" ON "PLEvent"("uid");
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "PLEvent_slugURL_key" ON "PLEvent"("slugURL");
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "PLEventGuest" (
  "id" SERIAL PRIMARY KEY,
  "uid" TEXT NOT NULL,
  "eventUid" TEXT REFERENCES "PLEvent"("uid") ON DELETE CASCADE ON UPDATE CASCADE,
  "locationUid" TEXT NOT NULL REFERENCES "PLEventLocation"("uid") ON DELETE CASCADE ON UPDATE CASCADE,
  "memberUid" TEXT NOT NULL REFERENCES "Member"("uid") ON DELETE CASCADE ON UPDATE CASCADE,
  "teamUid" TEXT REFERENCES "Team"("uid") ON DELETE CASCADE ON UPDATE CASCADE,
  "isHost" BOOLEAN NOT NULL DEFAULT false,
  "isSpeaker" BOOLEAN NOT NULL DEFAULT false,
  "isSponsor" BOOLEAN NOT NULL DEFAULT false,
  "isFeatured" BOOLEAN NOT NULL DEFAULT false,
  "telegramId" TEXT,
  "officeHours" TEXT,
  "reason" TEXT,
  "topics" TEXT[],
  "additionalInfo" JSONB,
  "priority" INTEGER,
  "associationUid" TEXT,
  "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" TIMESTAMP(3) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "PLEventGuest_uid_key" ON "PLEventGuest"("uid");
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "IrlGatheringPushConfig" (
  "id" SERIAL PRIMARY KEY,
  "uid" TEXT NOT NULL,
  "isActive" BOOLEAN NOT NULL DEFAULT true,
  "enabled" BOOLEAN NOT NULL DEFAULT true,
  "minAttendeesPerEvent" INTEGER NOT NULL DEFAULT 5,
  "upcomingWindowDays" INTEGER NOT NULL DEFAULT 7,
  "reminderDaysBefore" INTEGER NOT NULL DEFAULT 1,
  "totalEventsThreshold" INTEGER,
  "qualifiedEventsThreshold" INTEGER,
  "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" TIMESTAMP(3) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "IrlGatheringPushConfig_uid_key" ON "IrlGatheringPushConfig"("uid");
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "IrlGatheringPushCandidate" (
  "id" SERIAL PRIMARY KEY,
  "uid" TEXT NOT NULL,
  "ruleKind" "IrlGatheringPushRuleKind" NOT NULL,
  "gatheringUid" TEXT NOT NULL,
  "eventUid" TEXT NOT NULL,
  "eventStartDate" TIMESTAMP(3) NOT NULL,
  "eventEndDate" TIMESTAMP(3) NOT NULL,
  "attendeeCount" INTEGER NOT NULL DEFAULT 0,
  "isSuppressed" BOOLEAN NOT NULL DEFAULT false,
  "processedAt" TIMESTAMP(3),
  "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" TIMESTAMP(3) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "IrlGatheringPushCandidate_uid_key" ON "IrlGatheringPushCandidate"("uid");
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "IrlGatheringPushCandidate_ruleKind_eventUid_key" ON "IrlGatheringPushCandidate"("ruleKind", "eventUid");
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "PushNotification" (
  "id" SERIAL PRIMARY KEY,
  "uid" TEXT NOT NULL,
  "category" "PushNotificationCategory" NOT NULL,
  "title" TEXT NOT NULL,
  "description" TEXT,
  "metadata" JSONB,
  "link" TEXT,
  "isSent" BOOLEAN NOT NULL DEFAULT false,
  "sentAt" TIMESTAMP(3),
  "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" TIMESTAMP(3) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "PushNotification_uid_key" ON "PushNotification"("uid");
