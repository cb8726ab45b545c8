import { and, count, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { plEvent } from '../db/schema.ts';
import { eligibleAt } from '../schedule/discover.ts';

/**
 * The instant before which a syncable event's last success makes it overdue. An event
 * that never synced counts from its creation, so one added an hour ago is not overdue
 * before the next pass has had its chance.
 */
export function overdueBefore(now: Date, overdueAfterHours: number): Date {
  return new Date(now.getTime() - overdueAfterHours * 3_600_000);
}

/** Syncable events whose last successful sync (or creation, if never) is older than the cut-off. */
export async function countOverdueEvents(deps: { db: Db }, now: Date, overdueAfterHours: number): Promise<number> {
  const cutoff = overdueBefore(now, overdueAfterHours);
  const [row] = await deps.db
    .select({ overdue: count() })
    .from(plEvent)
    .where(
      and(eligibleAt(now), lt(sql`coalesce(${plEvent.guestLastSyncedAt}, ${plEvent.createdAt})`, cutoff.toISOString())),
    );
  return row?.overdue ?? 0;
}
