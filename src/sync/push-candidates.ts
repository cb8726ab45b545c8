/**
 * Step 1 after a sync (shared/spec/irl-push.md): refresh the IRL gathering push
 * candidates of the synced events, so the directory's push job sees the new
 * attendee counts.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { newUid } from '../db/ids.ts';
import { loadActiveConfig, pushWindows } from './push-queries.ts';

export interface CandidateRefresh {
  /** Candidate rows inserted or updated. */
  upserted: number;
  /** Candidate rows of the events that no longer qualify, removed. */
  deleted: number;
}

/**
 * Upserts the UPCOMING and REMINDER candidates of the given events that qualify and
 * deletes those that do not. Returns null, having done nothing, when there is no
 * active config or it is disabled.
 *
 * Two statements whatever the number of events: the config, then one statement that
 * counts guests per event, upserts and deletes. Being one statement, it sees one
 * snapshot and applies all or nothing; its upsert and delete touch disjoint rows.
 */
export async function refreshPushCandidates(
  deps: { db: Db; now?: () => Date },
  eventUids: string[],
): Promise<CandidateRefresh | null> {
  const config = await loadActiveConfig(deps.db);
  if (!config?.enabled) return null;
  const unique = [...new Set(eventUids.filter(Boolean))];
  if (unique.length === 0) return { upserted: 0, deleted: 0 };

  const { now, upcomingEnd, reminderEnd } = pushWindows(deps.now?.() ?? new Date(), config);
  // The database has no default for uid: each event brings one per rule kind, used
  // only if its row is new (an existing row keeps its uid on conflict).
  const input = unique.map((eventUid) => ({ eventUid, upcomingUid: newUid(), reminderUid: newUid() }));
  const at = (date: Date) => sql`${date.toISOString()}::timestamp(3)`;

  const [result] = await deps.db.execute<{ upserted: number; deleted: number }>(sql`
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(${JSON.stringify(input)}::jsonb)
        AS i("eventUid" text, "upcomingUid" text, "reminderUid" text)
    ), guest_count AS (
      SELECT "eventUid", count(*)::int AS "attendeeCount" FROM "PLEventGuest"
      WHERE "eventUid" IN (SELECT "eventUid" FROM input)
      GROUP BY "eventUid"
    ), eligible AS (
      -- What both rules require: not deleted, at a location, not ended, enough guests.
      SELECT i.*, e."locationUid", e."startDate", e."endDate", coalesce(g."attendeeCount", 0) AS "attendeeCount"
      FROM input i
      JOIN "PLEvent" e ON e."uid" = i."eventUid" AND NOT e."isDeleted"
      LEFT JOIN guest_count g ON g."eventUid" = i."eventUid"
      WHERE e."locationUid" IS NOT NULL
        AND e."endDate" >= ${at(now)}
        AND coalesce(g."attendeeCount", 0) >= ${config.minAttendeesPerEvent}
    ), qualifying AS (
      SELECT "upcomingUid" AS "uid", 'UPCOMING'::"IrlGatheringPushRuleKind" AS "ruleKind", *
      FROM eligible WHERE "endDate" <= ${at(upcomingEnd)}
      UNION ALL
      SELECT "reminderUid", 'REMINDER'::"IrlGatheringPushRuleKind", *
      FROM eligible WHERE "startDate" >= ${at(now)} AND "startDate" <= ${at(reminderEnd)}
    ), upserted AS (
      INSERT INTO "IrlGatheringPushCandidate" ("uid", "ruleKind", "gatheringUid", "eventUid", "eventStartDate",
        "eventEndDate", "attendeeCount", "isSuppressed", "processedAt", "updatedAt")
      SELECT "uid", "ruleKind", "locationUid", "eventUid", "startDate", "endDate", "attendeeCount", false, NULL, ${at(now)}
      FROM qualifying
      ON CONFLICT ("ruleKind", "eventUid") DO UPDATE SET
        "gatheringUid" = EXCLUDED."gatheringUid",
        "eventStartDate" = EXCLUDED."eventStartDate",
        "eventEndDate" = EXCLUDED."eventEndDate",
        "attendeeCount" = EXCLUDED."attendeeCount",
        -- processedAt NULL makes the directory's push job look at the candidate again.
        "isSuppressed" = false,
        "processedAt" = NULL,
        "updatedAt" = EXCLUDED."updatedAt"
      RETURNING 1
    ), deleted AS (
      -- Only the two rule kinds this step manages: the live enum may one day have more.
      DELETE FROM "IrlGatheringPushCandidate" c
      WHERE c."eventUid" IN (SELECT "eventUid" FROM input)
        AND c."ruleKind"::text IN ('UPCOMING', 'REMINDER')
        AND NOT EXISTS (SELECT 1 FROM qualifying q WHERE q."ruleKind" = c."ruleKind" AND q."eventUid" = c."eventUid")
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM upserted)::int AS "upserted", (SELECT count(*) FROM deleted)::int AS "deleted"`);
  return { upserted: result?.upserted ?? 0, deleted: result?.deleted ?? 0 };
}
