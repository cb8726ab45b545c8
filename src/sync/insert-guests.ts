import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { newUid } from '../db/ids.ts';
import type { MatchedGuest } from './match-members.ts';

export interface GuestTarget {
  eventUid: string;
  locationUid: string;
}

/**
 * Adds the matched members who are not yet guests of the event, in one statement
 * whatever the page size. Duplicate-proof in the database, not in this process:
 * NOT EXISTS skips members already listed (rows the directory created included), and
 * the partial unique index on synced rows turns a concurrent worker's identical
 * insert into a no-op (ON CONFLICT DO NOTHING) instead of a second row. Existing rows
 * are never updated. Returns the member uids of the rows it created.
 */
export async function insertGuests(
  deps: { db: Db; now?: () => Date },
  target: GuestTarget,
  matches: readonly MatchedGuest[],
): Promise<string[]> {
  if (matches.length === 0) return [];
  // Drizzle passes raw-SQL parameters as text; the schema's timestamps hold UTC.
  const now = deps.now?.() ?? new Date();
  const rows = await deps.db.execute<{ memberUid: string }>(sql`
    INSERT INTO "PLEventGuest" ("uid", "eventUid", "locationUid", "memberUid", "teamUid", "externalGuestId", "updatedAt")
    SELECT n.uid, ${target.eventUid}, ${target.locationUid}, n.member_uid, n.team_uid, n.external_guest_id, ${now.toISOString()}::timestamp(3)
    FROM unnest(
      ${sql.param(matches.map(() => newUid()))}::text[],
      ${sql.param(matches.map((m) => m.memberUid))}::text[],
      ${sql.param(matches.map((m) => m.teamUid))}::text[],
      ${sql.param(matches.map((m) => m.externalGuestId))}::text[]
    ) AS n(uid, member_uid, team_uid, external_guest_id)
    WHERE NOT EXISTS (
      SELECT 1 FROM "PLEventGuest" g
      WHERE g."eventUid" = ${target.eventUid} AND g."locationUid" = ${target.locationUid} AND g."memberUid" = n.member_uid
    )
    ON CONFLICT DO NOTHING
    RETURNING "memberUid"`);
  return rows.map((row) => row.memberUid);
}

/** For a dry run: how many of the matched members insertGuests would add now. Read-only. */
export async function countNewGuests(
  deps: { db: Db },
  target: GuestTarget,
  matches: readonly MatchedGuest[],
): Promise<number> {
  if (matches.length === 0) return 0;
  const [row] = await deps.db.execute<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM unnest(${sql.param(matches.map((m) => m.memberUid))}::text[]) AS n(member_uid)
    WHERE NOT EXISTS (
      SELECT 1 FROM "PLEventGuest" g
      WHERE g."eventUid" = ${target.eventUid} AND g."locationUid" = ${target.locationUid} AND g."memberUid" = n.member_uid
    )`);
  return row?.n ?? 0;
}
