/**
 * The reads and the one write behind refreshing sent IRL gathering notifications
 * (push-notifications.ts). Each function is one statement covering every gathering
 * asked about, so the number of statements does not grow with the number of events,
 * locations or notifications.
 */
import { and, asc, between, count, desc, eq, gte, inArray, or, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import * as s from '../db/schema.ts';
import type { Attendees, EventItemRow, LocationRow, RuleKind, TopAttendee } from './push-payload.ts';

const DAY_MS = 86_400_000;
const TOP_ATTENDEES = 6;

/** The fields of the active "IrlGatheringPushConfig" the post-sync rules use. */
export interface PushConfig {
  uid: string;
  enabled: boolean;
  minAttendeesPerEvent: number;
  upcomingWindowDays: number;
  reminderDaysBefore: number;
}

/** Both windows start at now; their ends are inclusive. */
export interface PushWindows {
  now: Date;
  upcomingEnd: Date;
  reminderEnd: Date;
}

/** The active config: the isActive row with the newest updatedAt (id breaks a tie). */
export async function loadActiveConfig(db: Db): Promise<PushConfig | null> {
  const c = s.irlGatheringPushConfig;
  const [row] = await db
    .select({
      uid: c.uid,
      enabled: c.enabled,
      minAttendeesPerEvent: c.minAttendeesPerEvent,
      upcomingWindowDays: c.upcomingWindowDays,
      reminderDaysBefore: c.reminderDaysBefore,
    })
    .from(c)
    .where(eq(c.isActive, true))
    .orderBy(desc(c.updatedAt), desc(c.id))
    .limit(1);
  return row ?? null;
}

export function pushWindows(now: Date, config: PushConfig): PushWindows {
  return {
    now,
    upcomingEnd: new Date(now.getTime() + config.upcomingWindowDays * DAY_MS),
    reminderEnd: new Date(now.getTime() + config.reminderDaysBefore * DAY_MS),
  };
}

export interface SentNotification {
  uid: string;
  gatheringUid: string;
  metadata: Record<string, unknown>;
  /** metadata as read, in jsonb's text form; the write compares against it. */
  metadataText: string;
}

/**
 * Version-1 IRL_GATHERING notifications of these gatherings, locked until the caller's
 * transaction ends: the directory's own writes to them wait for the refresh, or the
 * refresh reads what the directory just wrote and builds on it.
 */
export async function loadSentNotifications(db: Db, gatheringUids: string[]): Promise<SentNotification[]> {
  // category compared as text: the live enum has values this schema does not declare.
  // version: a guarded cast, since metadata is free-form and may hold a non-number there.
  const rows = await db.execute<{ uid: string; gatheringUid: string; metadataText: string }>(sql`
    SELECT "uid", "metadata"->>'gatheringUid' AS "gatheringUid", "metadata"::text AS "metadataText"
    FROM "PushNotification"
    WHERE "category"::text = 'IRL_GATHERING'
      AND "metadata"->>'gatheringUid' IN (SELECT jsonb_array_elements_text(${JSON.stringify(gatheringUids)}::jsonb))
      AND CASE WHEN "metadata"->>'version' ~ '^[0-9]{1,9}$' THEN ("metadata"->>'version')::int END = 1
    ORDER BY "id"
    FOR UPDATE`);
  return rows.map((row) => ({ ...row, metadata: JSON.parse(row.metadataText) as Record<string, unknown> }));
}

/** `${gatheringUid} ${ruleKind}`: how candidates are grouped per notification. */
export const candidateKey = (gatheringUid: string, ruleKind: RuleKind) => `${gatheringUid} ${ruleKind}`;

/**
 * The not-suppressed candidates in their rule's window, grouped by gathering and rule
 * kind, each with its event when that event exists and is not deleted. Only the
 * grouping's presence and the events matter to the caller, so a candidate whose event
 * is gone still counts as a candidate but adds no item.
 */
export async function loadWindowCandidates(
  db: Db,
  gatheringUids: string[],
  windows: PushWindows,
): Promise<Map<string, EventItemRow[]>> {
  const c = s.irlGatheringPushCandidate;
  const e = s.plEvent;
  const rows = await db
    .select({
      gatheringUid: c.gatheringUid,
      ruleKind: c.ruleKind,
      attendeeCount: c.attendeeCount,
      event: {
        uid: e.uid,
        slugURL: e.slugURL,
        name: e.name,
        startDate: e.startDate,
        endDate: e.endDate,
        websiteURL: e.websiteURL,
        telegramId: e.telegramId,
        // jsonb[] as one jsonb array: each element arrives exactly as stored, parsed once.
        resources: sql<unknown[] | null>`to_jsonb(${e.resources})`,
      },
      logoUrl: s.image.url,
    })
    .from(c)
    .leftJoin(e, and(eq(e.uid, c.eventUid), eq(e.isDeleted, false)))
    .leftJoin(s.image, eq(s.image.uid, e.logoUid))
    .where(
      and(
        inArray(c.gatheringUid, gatheringUids),
        eq(c.isSuppressed, false),
        or(
          and(eq(c.ruleKind, 'REMINDER'), between(c.eventStartDate, windows.now, windows.reminderEnd)),
          and(eq(c.ruleKind, 'UPCOMING'), between(c.eventEndDate, windows.now, windows.upcomingEnd)),
        ),
      ),
    )
    .orderBy(asc(c.eventStartDate), asc(c.eventUid));

  const groups = new Map<string, EventItemRow[]>();
  for (const row of rows) {
    const key = candidateKey(row.gatheringUid, row.ruleKind);
    const items = groups.get(key) ?? [];
    groups.set(key, items);
    if (row.event) items.push({ ...row.event, attendeeCount: row.attendeeCount, logoUrl: row.logoUrl });
  }
  return groups;
}

export async function loadLocations(db: Db, uids: string[]): Promise<Map<string, LocationRow>> {
  const l = s.plEventLocation;
  const rows = await db
    .select({
      uid: l.uid,
      location: l.location,
      description: l.description,
      country: l.country,
      timezone: l.timezone,
      latitude: l.latitude,
      longitude: l.longitude,
      flag: l.flag,
      icon: l.icon,
      resources: sql<unknown[] | null>`to_jsonb(${l.resources})`,
    })
    .from(l)
    .where(inArray(l.uid, uids));
  return new Map(rows.map((row) => [row.uid, row]));
}

/** events.total: non-deleted events at each location that have not ended. */
export async function countCurrentEvents(db: Db, locationUids: string[], now: Date): Promise<Map<string, number>> {
  const e = s.plEvent;
  const rows = await db
    .select({ locationUid: e.locationUid, total: count() })
    .from(e)
    .where(and(inArray(e.locationUid, locationUids), eq(e.isDeleted, false), gte(e.endDate, now)))
    .groupBy(e.locationUid);
  return new Map(rows.map((row) => [row.locationUid ?? '', row.total]));
}

type AttendeeRow = { [K in keyof TopAttendee]: TopAttendee[K] } & { locationUid: string; total: number };

/**
 * "Who's Going" of each location: distinct members who are guests of its current
 * events (not deleted, not ended, not INVITE_ONLY; a NULL type is not INVITE_ONLY)
 * or location-only guests of it, leaving out soft-deleted and REJECTED members.
 * Most complete guest entries first (a reason and topics count one each), then by
 * name; member uid last so the order is total.
 */
export async function loadAttendees(db: Db, locationUids: string[], now: Date): Promise<Map<string, Attendees>> {
  const locations = sql`(SELECT jsonb_array_elements_text(${JSON.stringify(locationUids)}::jsonb))`;
  const rows = await db.execute<AttendeeRow>(sql`
    WITH current_event AS (
      SELECT "uid", "locationUid" FROM "PLEvent"
      WHERE "locationUid" IN ${locations} AND NOT "isDeleted"
        AND "endDate" >= ${now.toISOString()}::timestamp(3)
        AND "type" IS DISTINCT FROM 'INVITE_ONLY'
    ), entry AS (
      SELECT e."locationUid", g."memberUid", g."eventUid", g."reason", g."topics"
      FROM "PLEventGuest" g JOIN current_event e ON e."uid" = g."eventUid"
      UNION ALL
      SELECT g."locationUid", g."memberUid", NULL, g."reason", g."topics"
      FROM "PLEventGuest" g WHERE g."eventUid" IS NULL AND g."locationUid" IN ${locations}
    ), attendee AS (
      SELECT en."locationUid", m."uid" AS "memberUid", m."name", i."url" AS "imageUrl",
        greatest(count(DISTINCT en."eventUid"), 1)::int AS "eventsCount",
        max((CASE WHEN btrim(en."reason") <> '' THEN 1 ELSE 0 END)
          + (CASE WHEN cardinality(en."topics") > 0 THEN 1 ELSE 0 END)) AS "completeness"
      FROM entry en
      JOIN "Member" m ON m."uid" = en."memberUid" AND m."deletedAt" IS NULL
      LEFT JOIN "MemberApproval" a ON a."memberUid" = m."uid"
      LEFT JOIN "Image" i ON i."uid" = m."imageUid"
      WHERE a."state" IS DISTINCT FROM 'REJECTED'
      GROUP BY en."locationUid", m."uid", m."name", i."url"
    ), ranked AS (
      SELECT *, count(*) OVER (PARTITION BY "locationUid")::int AS "total",
        row_number() OVER (PARTITION BY "locationUid" ORDER BY "completeness" DESC, "name", "memberUid") AS "rank"
      FROM attendee
    )
    SELECT "locationUid", "total", "memberUid", "imageUrl", "name" AS "displayName", "eventsCount"
    FROM ranked WHERE "rank" <= ${TOP_ATTENDEES}
    ORDER BY "locationUid", "rank"`);

  const byLocation = new Map<string, Attendees>();
  for (const { locationUid, total, memberUid, imageUrl, displayName, eventsCount } of rows) {
    const attendees = byLocation.get(locationUid) ?? { total, topAttendees: [] };
    byLocation.set(locationUid, attendees);
    attendees.topAttendees.push({ memberUid, imageUrl, displayName, eventsCount });
  }
  return byLocation;
}

export interface NotificationUpdate {
  uid: string;
  title: string;
  description: string;
  metadata: Record<string, unknown>;
  /** The metadata text the update was computed from. */
  seenMetadataText: string;
}

/**
 * Writes every update in one statement and returns the uids written. A row whose
 * metadata changed since it was read (the directory's push job rewrote it meanwhile)
 * is left as the directory wrote it rather than overwritten with a payload built from
 * the older one. link, isSent, sentAt and createdAt are not touched.
 */
export async function writeNotifications(db: Db, updates: NotificationUpdate[], now: Date): Promise<string[]> {
  if (updates.length === 0) return [];
  const rows = await db.execute<{ uid: string }>(sql`
    UPDATE "PushNotification" p
    SET "title" = v."title", "description" = v."description", "metadata" = v."metadata",
      "updatedAt" = ${now.toISOString()}::timestamp(3)
    FROM jsonb_to_recordset(${JSON.stringify(updates)}::jsonb)
      AS v("uid" text, "title" text, "description" text, "metadata" jsonb, "seenMetadataText" text)
    WHERE p."uid" = v."uid" AND p."metadata" = v."seenMetadataText"::jsonb
    RETURNING p."uid"`);
  return rows.map((row) => row.uid);
}
