import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';

/**
 * Moves the event's synced rows (externalGuestId set) to the event's current location,
 * after the directory moved the event: push data is per location, and "Who's Going" of
 * the new gathering should list them, of the old one not. Rows the directory created are
 * never touched. Returns the locations rows left, whose push data needs a refresh too.
 * One statement; in the usual case it finds nothing to move.
 *
 * No join, whatever the statistics: the UPDATE scans the event's synced rows, and only when
 * it moved some is the same snapshot scanned again for the locations they left. A
 * self-join (UPDATE … FROM the same table, to return each row's old location) became a
 * nested loop reading the table once per row when the statistics said the table held no
 * rows, as VACUUM leaves them after a mass delete: a 100k-guest finish ran for minutes
 * (test/sync/emptied-table-statistics.test.ts).
 */
export async function followEventLocation(
  deps: { db: Db; now?: () => Date },
  target: { eventUid: string; locationUid: string },
): Promise<{ moved: number; leftLocationUids: string[] }> {
  const now = deps.now?.() ?? new Date();
  const synced = sql`"eventUid" = ${target.eventUid} AND "externalGuestId" IS NOT NULL
        AND "locationUid" IS DISTINCT FROM ${target.locationUid}`;
  const [row] = await deps.db.execute<{ moved: number; left: string[] }>(sql`
    WITH moved AS (
      UPDATE "PLEventGuest" SET "locationUid" = ${target.locationUid}, "updatedAt" = ${now.toISOString()}::timestamp(3)
      WHERE ${synced}
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM moved)::int AS moved,
      -- Read only when rows moved: in the usual case the UPDATE's scan was the only one.
      ARRAY(SELECT DISTINCT "locationUid" FROM "PLEventGuest" WHERE EXISTS (SELECT 1 FROM moved) AND ${synced}) AS left`);
  // A SELECT without FROM: always one row, and ARRAY() is never NULL.
  return { moved: row!.moved, leftLocationUids: row!.left };
}
