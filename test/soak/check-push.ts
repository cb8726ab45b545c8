/**
 * The IRL push data against the final rows (shared/spec/irl-push.md, restated here on
 * purpose rather than reusing the worker's query): each event's candidates exist exactly
 * when it qualifies, with its current guest count; each sent notification's attendee
 * total is the gathering's distinct attendees now. The attendee rule is the worker's
 * loadAttendees, which the push suite proves against the spec.
 */
import type { Database } from '../../src/db/client.ts';
import { loadAttendees } from '../../src/sync/push-queries.ts';
import { examples, type Invariant, invariant } from './report.ts';

export async function checkPush(database: Database): Promise<Invariant[]> {
  const { sql } = database;
  const expected = await sql<{ eventUid: string; ruleKind: string; attendeeCount: number; gatheringUid: string }[]>`
    WITH config AS (
      SELECT * FROM "IrlGatheringPushConfig" WHERE "isActive" ORDER BY "updatedAt" DESC LIMIT 1
    ), counted AS (
      SELECT e.uid, e."locationUid", e."startDate", e."endDate",
             (SELECT count(*)::int FROM "PLEventGuest" g WHERE g."eventUid" = e.uid) AS n
      FROM "PLEvent" e WHERE NOT e."isDeleted" AND e."locationUid" IS NOT NULL AND e."externalEventProvider" = 'LUMA'
    )
    SELECT c.uid AS "eventUid", k."ruleKind", c.n AS "attendeeCount", c."locationUid" AS "gatheringUid"
    FROM counted c, config, (VALUES ('UPCOMING'), ('REMINDER')) AS k("ruleKind")
    WHERE config.enabled AND c."endDate" >= now() AT TIME ZONE 'UTC' AND c.n >= config."minAttendeesPerEvent"
      AND CASE k."ruleKind"
        WHEN 'UPCOMING' THEN c."endDate" <= (now() AT TIME ZONE 'UTC') + make_interval(days => config."upcomingWindowDays")
        ELSE c."startDate" >= now() AT TIME ZONE 'UTC'
             AND c."startDate" <= (now() AT TIME ZONE 'UTC') + make_interval(days => config."reminderDaysBefore")
      END`;
  const actual = await sql<{ eventUid: string; ruleKind: string; attendeeCount: number; gatheringUid: string }[]>`
    SELECT "eventUid", "ruleKind"::text AS "ruleKind", "attendeeCount", "gatheringUid"
    FROM "IrlGatheringPushCandidate" WHERE NOT "isSuppressed"`;
  const key = (c: { eventUid: string; ruleKind: string }) => `${c.eventUid} ${c.ruleKind}`;
  const have = new Map(actual.map((c) => [key(c), c]));
  const want = new Map(expected.map((c) => [key(c), c]));
  const wrong: string[] = [];
  for (const [k, c] of want) {
    const got = have.get(k);
    if (!got) wrong.push(`${k}: missing`);
    else if (got.attendeeCount !== c.attendeeCount || got.gatheringUid !== c.gatheringUid) {
      wrong.push(`${k}: ${got.attendeeCount} at ${got.gatheringUid}, now ${c.attendeeCount} at ${c.gatheringUid}`);
    }
  }
  for (const k of have.keys()) if (!want.has(k)) wrong.push(`${k}: no longer qualifies`);

  const notifications = await sql<{ uid: string; gatheringUid: string; total: number | null }[]>`
    SELECT uid, metadata->>'gatheringUid' AS "gatheringUid", (metadata->'attendees'->>'total')::int AS total
    FROM "PushNotification" WHERE category = 'IRL_GATHERING' AND (metadata->>'version')::int = 1`;
  const attendees = await loadAttendees(
    database.db,
    [...new Set(notifications.map((n) => n.gatheringUid))],
    new Date(),
  );
  const stale = notifications
    .filter((n) => n.total !== (attendees.get(n.gatheringUid)?.total ?? 0))
    .map((n) => `${n.gatheringUid}: says ${n.total}, now ${attendees.get(n.gatheringUid)?.total ?? 0}`);
  return [
    invariant(
      'push: candidates agree with the final rows',
      wrong.length === 0 && want.size > 0,
      `${want.size} candidates expected, ${actual.length} present, ${wrong.length} wrong${examples(wrong)}`,
    ),
    invariant(
      'push: sent notifications agree with the final rows',
      stale.length === 0,
      `${notifications.length} notifications, ${stale.length} with a stale attendee total${examples(stale)}`,
    ),
  ];
}
