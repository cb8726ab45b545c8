import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';

/**
 * Moves the event's synced rows (externalGuestId set) to the event's current location,
 * after the directory moved the event: push data is per location, and "Who's Going" of
 * the new gathering should list them, of the old one not. Rows the directory created are
 * never touched. Returns the locations rows left, whose push data needs a refresh too.
 * One statement; none at all in the usual case beyond an index probe that finds nothing.
 */
export async function followEventLocation(
  deps: { db: Db; now?: () => Date },
  target: { eventUid: string; locationUid: string },
): Promise<{ moved: number; leftLocationUids: string[] }> {
  const now = deps.now?.() ?? new Date();
  const rows = await deps.db.execute<{ left: string }>(sql`
    UPDATE "PLEventGuest" g SET "locationUid" = ${target.locationUid}, "updatedAt" = ${now.toISOString()}::timestamp(3)
    FROM (
      SELECT id, "locationUid" AS "left" FROM "PLEventGuest"
      WHERE "eventUid" = ${target.eventUid} AND "externalGuestId" IS NOT NULL
        AND "locationUid" IS DISTINCT FROM ${target.locationUid}
    ) moved
    WHERE g.id = moved.id
    RETURNING moved."left"`);
  return { moved: rows.length, leftLocationUids: [...new Set(rows.map((r) => r.left))] };
}
