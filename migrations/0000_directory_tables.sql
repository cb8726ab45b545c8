-- The directory tables guest sync reads and writes, exactly as the live directory has them:
-- columns, types, defaults, constraints and indexes follow a pg_dump --schema-only of the live
-- schema (../shared/spec/directory-schema.sql, copied as test/fixtures/directory-schema.sql;
-- test/db/directory-schema.test.ts compares the two table by table). This file exists so that an
-- empty database (local runs, tests) has a directory to sync into. On a live directory database
-- it does nothing: each type is created only when absent, and each table, with its sequence,
-- indexes and foreign keys, only when the table itself is absent. Never alter a directory
-- table here: an existing table is the directory's, whatever its shape.
DO $$ BEGIN
  CREATE TYPE "ImageSize" AS ENUM ('ORIGINAL', 'LARGE', 'MEDIUM', 'SMALL', 'TINY');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
--> statement-breakpoint
DO $$ BEGIN
  CREATE TYPE "IrlGatheringPushRuleKind" AS ENUM ('UPCOMING', 'REMINDER');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
--> statement-breakpoint
DO $$ BEGIN
  CREATE TYPE "MemberApprovalState" AS ENUM ('PENDING', 'APPROVED', 'REJECTED', 'VERIFIED');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
--> statement-breakpoint
DO $$ BEGIN
  CREATE TYPE "PLEventLocationStatus" AS ENUM ('AUTO_MAPPED', 'MANUALLY_MAPPED');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
--> statement-breakpoint
DO $$ BEGIN
  CREATE TYPE "PLEventType" AS ENUM ('INVITE_ONLY', 'VIRTUAL', 'IN_PERSON');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
--> statement-breakpoint
DO $$ BEGIN
  CREATE TYPE "PushNotificationCategory" AS ENUM ('DEMO_DAY_LIKE', 'DEMO_DAY_CONNECT', 'DEMO_DAY_INVEST', 'DEMO_DAY_REFERRAL', 'DEMO_DAY_FEEDBACK', 'FORUM_POST', 'FORUM_REPLY', 'EVENT', 'SYSTEM', 'DEMO_DAY_ANNOUNCEMENT', 'IRL_GATHERING', 'GUIDE_POST', 'GUIDE_REPLY', 'NEW_FEATURE', 'GANTRY', 'TEAM_NEWS', 'AI_APP');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
--> statement-breakpoint
DO $$ BEGIN
  CREATE TYPE "TeamStatus" AS ENUM ('ACTIVE', 'INACTIVE');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
--> statement-breakpoint
DO $$ BEGIN
  CREATE TYPE job_search_status AS ENUM ('ACTIVELY_LOOKING', 'OPEN_TO_RIGHT_ROLE', 'NOT_LOOKING');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
--> statement-breakpoint
DO $$ BEGIN
  IF to_regclass(format('%I.%I', current_schema(), 'Image')) IS NULL THEN
    CREATE TABLE "Image" (
      id SERIAL,
      uid text NOT NULL,
      cid text NOT NULL,
      width integer NOT NULL,
      height integer NOT NULL,
      url text NOT NULL,
      filename text NOT NULL,
      size integer NOT NULL,
      type text NOT NULL,
      version "ImageSize" NOT NULL,
      "thumbnailToUid" text,
      "createdAt" timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
      "updatedAt" timestamp(3) without time zone NOT NULL,
      CONSTRAINT "Image_pkey" PRIMARY KEY (id)
    );
    CREATE UNIQUE INDEX "Image_uid_key" ON "Image" (uid);
    ALTER TABLE "Image" ADD CONSTRAINT "Image_thumbnailToUid_fkey" FOREIGN KEY ("thumbnailToUid") REFERENCES "Image"(uid) ON UPDATE CASCADE ON DELETE SET NULL;
  END IF;
END $$;
--> statement-breakpoint
DO $$ BEGIN
  IF to_regclass(format('%I.%I', current_schema(), 'Member')) IS NULL THEN
    CREATE TABLE "Member" (
      id SERIAL,
      uid text NOT NULL,
      name text NOT NULL,
      email text,
      "imageUid" text,
      "githubHandler" text,
      "discordHandler" text,
      "twitterHandler" text,
      "officeHours" text,
      "plnFriend" boolean DEFAULT false,
      "airtableRecId" text,
      "createdAt" timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
      "updatedAt" timestamp(3) without time zone NOT NULL,
      "locationUid" text,
      "linkedinHandler" text,
      "moreDetails" text,
      "plnStartDate" timestamp(3) without time zone,
      "externalId" text,
      "openToWork" boolean DEFAULT false,
      "telegramHandler" text,
      preferences jsonb,
      "approvedAt" timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
      "isFeatured" boolean DEFAULT false,
      bio text,
      "isVerified" boolean DEFAULT false,
      "signUpSource" text,
      "isSubscribedToNewsletter" boolean DEFAULT false,
      "isUserConsent" boolean DEFAULT false,
      "teamOrProjectURL" text,
      "signUpCampaign" text,
      "signUpMedium" text,
      "telegramUid" text,
      "linkedInDetails" jsonb,
      "accessLevel" text,
      "accessLevelUpdatedAt" timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
      "deletedAt" timestamp(3) without time zone,
      "deletionReason" text,
      "ohHelpWith" text[] DEFAULT ARRAY[]::text[],
      "ohInterest" text[] DEFAULT ARRAY[]::text[],
      "ohStatus" text,
      "scheduleMeetingCount" integer DEFAULT 0 NOT NULL,
      "investorProfileId" text,
      "isInvestor" boolean,
      "isTierViewer" boolean DEFAULT false,
      role text,
      "aboutYou" text,
      "approveOnLogin" boolean DEFAULT false NOT NULL,
      "blueskyHandler" text,
      "jobSearchStatus" job_search_status,
      "currentCompany" text,
      CONSTRAINT "Member_pkey" PRIMARY KEY (id)
    );
    CREATE UNIQUE INDEX "Member_airtableRecId_key" ON "Member" ("airtableRecId");
    CREATE UNIQUE INDEX "Member_email_key" ON "Member" (email);
    CREATE UNIQUE INDEX "Member_externalId_key" ON "Member" ("externalId");
    CREATE UNIQUE INDEX "Member_investorProfileId_key" ON "Member" ("investorProfileId");
    CREATE UNIQUE INDEX "Member_telegramHandler_key" ON "Member" ("telegramHandler");
    CREATE UNIQUE INDEX "Member_telegramUid_key" ON "Member" ("telegramUid");
    CREATE UNIQUE INDEX "Member_uid_key" ON "Member" (uid);
    ALTER TABLE "Member" ADD CONSTRAINT "Member_imageUid_fkey" FOREIGN KEY ("imageUid") REFERENCES "Image"(uid) ON UPDATE CASCADE ON DELETE SET NULL;
  END IF;
END $$;
--> statement-breakpoint
DO $$ BEGIN
  IF to_regclass(format('%I.%I', current_schema(), 'MemberApproval')) IS NULL THEN
    CREATE TABLE "MemberApproval" (
      uid text NOT NULL,
      "memberUid" text NOT NULL,
      state "MemberApprovalState" DEFAULT 'PENDING'::"MemberApprovalState" NOT NULL,
      "requestedByUid" text,
      "reviewedByUid" text,
      reason text,
      "requestedAt" timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
      "reviewedAt" timestamp(3) without time zone,
      "createdAt" timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
      "updatedAt" timestamp(3) without time zone NOT NULL,
      CONSTRAINT "MemberApproval_pkey" PRIMARY KEY (uid)
    );
    CREATE UNIQUE INDEX "MemberApproval_memberUid_key" ON "MemberApproval" ("memberUid");
    CREATE INDEX "MemberApproval_requestedByUid_idx" ON "MemberApproval" ("requestedByUid");
    CREATE INDEX "MemberApproval_reviewedByUid_idx" ON "MemberApproval" ("reviewedByUid");
    CREATE INDEX "MemberApproval_state_idx" ON "MemberApproval" (state);
    ALTER TABLE "MemberApproval" ADD CONSTRAINT "MemberApproval_memberUid_fkey" FOREIGN KEY ("memberUid") REFERENCES "Member"(uid) ON UPDATE CASCADE ON DELETE CASCADE;
    ALTER TABLE "MemberApproval" ADD CONSTRAINT "MemberApproval_requestedByUid_fkey" FOREIGN KEY ("requestedByUid") REFERENCES "Member"(uid) ON UPDATE CASCADE ON DELETE SET NULL;
    ALTER TABLE "MemberApproval" ADD CONSTRAINT "MemberApproval_reviewedByUid_fkey" FOREIGN KEY ("reviewedByUid") REFERENCES "Member"(uid) ON UPDATE CASCADE ON DELETE SET NULL;
  END IF;
END $$;
--> statement-breakpoint
DO $$ BEGIN
  IF to_regclass(format('%I.%I', current_schema(), 'Team')) IS NULL THEN
    CREATE TABLE "Team" (
      id SERIAL,
      uid text NOT NULL,
      name text NOT NULL,
      "logoUid" text,
      blog text,
      website text,
      "contactMethod" text,
      "twitterHandler" text,
      "shortDescription" text,
      "longDescription" text,
      "plnFriend" boolean DEFAULT false NOT NULL,
      "airtableRecId" text,
      "createdAt" timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
      "updatedAt" timestamp(3) without time zone NOT NULL,
      "fundingStageUid" text,
      "linkedinHandler" text,
      "moreDetails" text,
      "officeHours" text,
      "telegramHandler" text,
      "lastModifiedBy" text,
      "isFeatured" boolean DEFAULT false,
      "investorProfileId" text,
      "isFund" boolean DEFAULT false NOT NULL,
      "accessLevel" text DEFAULT 'L1'::text,
      "accessLevelUpdatedAt" timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
      tier integer DEFAULT '-1'::integer,
      priority integer DEFAULT 99 NOT NULL,
      "blueskyHandler" text,
      "crunchbaseHandler" text,
      "dateFounded" integer,
      "teamSize" text,
      location text,
      status "TeamStatus" DEFAULT 'ACTIVE'::"TeamStatus" NOT NULL,
      CONSTRAINT "Team_pkey" PRIMARY KEY (id)
    );
    CREATE UNIQUE INDEX "Team_airtableRecId_key" ON "Team" ("airtableRecId");
    CREATE UNIQUE INDEX "Team_investorProfileId_key" ON "Team" ("investorProfileId");
    CREATE UNIQUE INDEX "Team_name_key" ON "Team" (name);
    CREATE UNIQUE INDEX "Team_uid_key" ON "Team" (uid);
    ALTER TABLE "Team" ADD CONSTRAINT "Team_lastModifiedBy_fkey" FOREIGN KEY ("lastModifiedBy") REFERENCES "Member"(uid) ON UPDATE CASCADE ON DELETE SET NULL;
    ALTER TABLE "Team" ADD CONSTRAINT "Team_logoUid_fkey" FOREIGN KEY ("logoUid") REFERENCES "Image"(uid) ON UPDATE CASCADE ON DELETE SET NULL;
  END IF;
END $$;
--> statement-breakpoint
DO $$ BEGIN
  IF to_regclass(format('%I.%I', current_schema(), 'TeamMemberRole')) IS NULL THEN
    CREATE TABLE "TeamMemberRole" (
      id SERIAL,
      "mainTeam" boolean DEFAULT false NOT NULL,
      "teamLead" boolean DEFAULT false NOT NULL,
      "startDate" timestamp(3) without time zone,
      "endDate" timestamp(3) without time zone,
      role text,
      "memberUid" text NOT NULL,
      "teamUid" text NOT NULL,
      "roleTags" text[],
      "investmentTeam" boolean DEFAULT false NOT NULL,
      CONSTRAINT "TeamMemberRole_pkey" PRIMARY KEY (id)
    );
    CREATE UNIQUE INDEX "TeamMemberRole_memberUid_teamUid_key" ON "TeamMemberRole" ("memberUid", "teamUid");
    CREATE UNIQUE INDEX only_one_main_team ON "TeamMemberRole" ("memberUid", "mainTeam") WHERE ("mainTeam" = true);
    ALTER TABLE "TeamMemberRole" ADD CONSTRAINT "TeamMemberRole_memberUid_fkey" FOREIGN KEY ("memberUid") REFERENCES "Member"(uid) ON UPDATE CASCADE ON DELETE CASCADE;
    ALTER TABLE "TeamMemberRole" ADD CONSTRAINT "TeamMemberRole_teamUid_fkey" FOREIGN KEY ("teamUid") REFERENCES "Team"(uid) ON UPDATE CASCADE ON DELETE CASCADE;
  END IF;
END $$;
--> statement-breakpoint
DO $$ BEGIN
  IF to_regclass(format('%I.%I', current_schema(), 'PLEventLocation')) IS NULL THEN
    CREATE TABLE "PLEventLocation" (
      id SERIAL,
      uid text NOT NULL,
      location text NOT NULL,
      timezone text,
      latitude text,
      longitude text,
      flag text,
      icon text,
      resources jsonb[],
      "additionalInfo" jsonb,
      priority integer,
      "createdAt" timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
      "updatedAt" timestamp(3) without time zone NOT NULL,
      "isFeatured" boolean DEFAULT false,
      "isAggregated" boolean DEFAULT false NOT NULL,
      country text,
      "aggregatedPriority" integer,
      "isDeleted" boolean DEFAULT false NOT NULL,
      description text,
      CONSTRAINT "PLEventLocation_pkey" PRIMARY KEY (id)
    );
    CREATE UNIQUE INDEX "PLEventLocation_uid_key" ON "PLEventLocation" (uid);
  END IF;
END $$;
--> statement-breakpoint
DO $$ BEGIN
  IF to_regclass(format('%I.%I', current_schema(), 'PLEvent')) IS NULL THEN
    CREATE TABLE "PLEvent" (
      id SERIAL,
      uid text NOT NULL,
      "eventsCount" integer,
      "telegramId" text,
      "logoUid" text,
      "bannerUid" text,
      name text NOT NULL,
      description text,
      "websiteURL" text,
      "slugURL" text NOT NULL,
      "createdAt" timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
      "updatedAt" timestamp(3) without time zone NOT NULL,
      "endDate" timestamp(3) without time zone NOT NULL,
      resources jsonb[],
      "startDate" timestamp(3) without time zone NOT NULL,
      type "PLEventType",
      "additionalInfo" jsonb,
      priority integer,
      "shortDescription" text,
      "isFeatured" boolean DEFAULT false,
      "locationUid" text,
      "externalId" text,
      "syncedAt" timestamp(3) without time zone,
      "isAggregated" boolean DEFAULT false NOT NULL,
      "isDeleted" boolean DEFAULT false NOT NULL,
      "aggregatedPriority" integer,
      "locationStatus" "PLEventLocationStatus",
      "reviewerUid" text,
      "pLEventLocationAssociationUid" text,
      CONSTRAINT "PLEvent_pkey" PRIMARY KEY (id)
    );
    CREATE UNIQUE INDEX "PLEvent_slugURL_key" ON "PLEvent" ("slugURL");
    CREATE UNIQUE INDEX "PLEvent_uid_key" ON "PLEvent" (uid);
    ALTER TABLE "PLEvent" ADD CONSTRAINT "PLEvent_bannerUid_fkey" FOREIGN KEY ("bannerUid") REFERENCES "Image"(uid) ON UPDATE CASCADE ON DELETE SET NULL;
    ALTER TABLE "PLEvent" ADD CONSTRAINT "PLEvent_locationUid_fkey" FOREIGN KEY ("locationUid") REFERENCES "PLEventLocation"(uid) ON UPDATE CASCADE ON DELETE SET NULL;
    ALTER TABLE "PLEvent" ADD CONSTRAINT "PLEvent_logoUid_fkey" FOREIGN KEY ("logoUid") REFERENCES "Image"(uid) ON UPDATE CASCADE ON DELETE SET NULL;
    ALTER TABLE "PLEvent" ADD CONSTRAINT "PLEvent_reviewerUid_fkey" FOREIGN KEY ("reviewerUid") REFERENCES "Member"(uid) ON UPDATE CASCADE ON DELETE SET NULL;
  END IF;
END $$;
--> statement-breakpoint
DO $$ BEGIN
  IF to_regclass(format('%I.%I', current_schema(), 'PLEventGuest')) IS NULL THEN
    CREATE TABLE "PLEventGuest" (
      id SERIAL,
      uid text NOT NULL,
      "telegramId" text,
      reason text,
      "createdAt" timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
      "updatedAt" timestamp(3) without time zone NOT NULL,
      "memberUid" text NOT NULL,
      "teamUid" text,
      "eventUid" text,
      "additionalInfo" jsonb,
      topics text[],
      "officeHours" text,
      "isHost" boolean DEFAULT false NOT NULL,
      "isSpeaker" boolean DEFAULT false NOT NULL,
      "isFeatured" boolean DEFAULT false NOT NULL,
      priority integer,
      "isSponsor" boolean DEFAULT false NOT NULL,
      "locationUid" text NOT NULL,
      "associationUid" text,
      CONSTRAINT "PLEventGuest_pkey" PRIMARY KEY (id)
    );
    CREATE UNIQUE INDEX "PLEventGuest_uid_key" ON "PLEventGuest" (uid);
    ALTER TABLE "PLEventGuest" ADD CONSTRAINT "PLEventGuest_eventUid_fkey" FOREIGN KEY ("eventUid") REFERENCES "PLEvent"(uid) ON UPDATE CASCADE ON DELETE CASCADE;
    ALTER TABLE "PLEventGuest" ADD CONSTRAINT "PLEventGuest_locationUid_fkey" FOREIGN KEY ("locationUid") REFERENCES "PLEventLocation"(uid) ON UPDATE CASCADE ON DELETE CASCADE;
    ALTER TABLE "PLEventGuest" ADD CONSTRAINT "PLEventGuest_memberUid_fkey" FOREIGN KEY ("memberUid") REFERENCES "Member"(uid) ON UPDATE CASCADE ON DELETE CASCADE;
    ALTER TABLE "PLEventGuest" ADD CONSTRAINT "PLEventGuest_teamUid_fkey" FOREIGN KEY ("teamUid") REFERENCES "Team"(uid) ON UPDATE CASCADE ON DELETE CASCADE;
  END IF;
END $$;
--> statement-breakpoint
DO $$ BEGIN
  IF to_regclass(format('%I.%I', current_schema(), 'IrlGatheringPushConfig')) IS NULL THEN
    CREATE TABLE "IrlGatheringPushConfig" (
      id SERIAL,
      uid text NOT NULL,
      "isActive" boolean DEFAULT true NOT NULL,
      enabled boolean DEFAULT true NOT NULL,
      "minAttendeesPerEvent" integer DEFAULT 5 NOT NULL,
      "upcomingWindowDays" integer DEFAULT 7 NOT NULL,
      "reminderDaysBefore" integer DEFAULT 1 NOT NULL,
      "updatedByMemberUid" text,
      "createdAt" timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
      "updatedAt" timestamp(3) without time zone NOT NULL,
      "totalEventsThreshold" integer DEFAULT 5 NOT NULL,
      "qualifiedEventsThreshold" integer DEFAULT 2 NOT NULL,
      CONSTRAINT "IrlGatheringPushConfig_pkey" PRIMARY KEY (id)
    );
    CREATE INDEX "IrlGatheringPushConfig_enabled_idx" ON "IrlGatheringPushConfig" (enabled);
    CREATE INDEX "IrlGatheringPushConfig_isActive_idx" ON "IrlGatheringPushConfig" ("isActive");
    CREATE UNIQUE INDEX "IrlGatheringPushConfig_uid_key" ON "IrlGatheringPushConfig" (uid);
    CREATE INDEX "IrlGatheringPushConfig_updatedAt_idx" ON "IrlGatheringPushConfig" ("updatedAt");
  END IF;
END $$;
--> statement-breakpoint
DO $$ BEGIN
  IF to_regclass(format('%I.%I', current_schema(), 'IrlGatheringPushCandidate')) IS NULL THEN
    CREATE TABLE "IrlGatheringPushCandidate" (
      id SERIAL,
      uid text NOT NULL,
      "ruleKind" "IrlGatheringPushRuleKind" NOT NULL,
      "gatheringUid" text NOT NULL,
      "eventUid" text NOT NULL,
      "eventStartDate" timestamp(3) without time zone NOT NULL,
      "attendeeCount" integer NOT NULL,
      "isSuppressed" boolean DEFAULT false NOT NULL,
      "processedAt" timestamp(3) without time zone,
      "createdAt" timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
      "updatedAt" timestamp(3) without time zone NOT NULL,
      "eventEndDate" timestamp(3) without time zone NOT NULL,
      CONSTRAINT "IrlGatheringPushCandidate_pkey" PRIMARY KEY (id)
    );
    CREATE INDEX "IrlGatheringPushCandidate_eventEndDate_idx" ON "IrlGatheringPushCandidate" ("eventEndDate");
    CREATE INDEX "IrlGatheringPushCandidate_eventStartDate_idx" ON "IrlGatheringPushCandidate" ("eventStartDate");
    CREATE UNIQUE INDEX "IrlGatheringPushCandidate_ruleKind_eventUid_key" ON "IrlGatheringPushCandidate" ("ruleKind", "eventUid");
    CREATE INDEX "IrlGatheringPushCandidate_ruleKind_gatheringUid_idx" ON "IrlGatheringPushCandidate" ("ruleKind", "gatheringUid");
    CREATE INDEX "IrlGatheringPushCandidate_ruleKind_processedAt_idx" ON "IrlGatheringPushCandidate" ("ruleKind", "processedAt");
    CREATE UNIQUE INDEX "IrlGatheringPushCandidate_uid_key" ON "IrlGatheringPushCandidate" (uid);
  END IF;
END $$;
--> statement-breakpoint
DO $$ BEGIN
  IF to_regclass(format('%I.%I', current_schema(), 'PushNotification')) IS NULL THEN
    CREATE TABLE "PushNotification" (
      id SERIAL,
      uid text NOT NULL,
      category "PushNotificationCategory" NOT NULL,
      title text NOT NULL,
      description text,
      image text,
      link text,
      metadata jsonb DEFAULT '{}'::jsonb,
      "isPublic" boolean DEFAULT false NOT NULL,
      "recipientUid" text,
      "isRead" boolean DEFAULT false NOT NULL,
      "isSent" boolean DEFAULT false NOT NULL,
      "sentAt" timestamp(3) without time zone,
      "createdAt" timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
      "updatedAt" timestamp(3) without time zone NOT NULL,
      "accessLevels" text[] DEFAULT ARRAY[]::text[],
      "linkText" text,
      "requiredPermissions" text[] DEFAULT ARRAY[]::text[],
      CONSTRAINT "PushNotification_pkey" PRIMARY KEY (id)
    );
    CREATE INDEX "PushNotification_isPublic_idx" ON "PushNotification" ("isPublic");
    CREATE INDEX "PushNotification_link_idx" ON "PushNotification" (link);
    CREATE INDEX "PushNotification_recipientUid_isPublic_isRead_idx" ON "PushNotification" ("recipientUid", "isPublic", "isRead");
    CREATE UNIQUE INDEX "PushNotification_uid_key" ON "PushNotification" (uid);
    ALTER TABLE "PushNotification" ADD CONSTRAINT "PushNotification_recipientUid_fkey" FOREIGN KEY ("recipientUid") REFERENCES "Member"(uid) ON UPDATE CASCADE ON DELETE CASCADE;
  END IF;
END $$;
