import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';

export interface StaleRemoval {
  /** Synced rows of the event before removal. */
  synced: number;
  /** Synced rows whose member was not on the complete approved list. */
  stale: number;
  /** Rows actually removed: 0 when the guard tripped or in a dry run. */
  removed: number;
  /** Why nothing was removed although rows were stale, if so. */
  guard: 'empty_list' | 'share_exceeded' | null;
  /** In a dry run: the rows a real run would remove (at most DRY_RUN_LIST_LIMIT). */
  staleRows?: Array<{ memberUid: string; externalGuestId: string }>;
}

/** A dry run lists at most this many stale rows; the count is always exact. */
const DRY_RUN_LIST_LIMIT = 1000;

/**
 * Removes the event's synced guests (externalGuestId set) whose member was not matched
 * in this complete sync. Rows the directory created are never touched. A member still
 * approved under another Luma guest id was matched, so stays. Guarded against a bad
 * day at Luma: an empty list, or a removal above `maxShare` of the synced rows,
 * removes nothing.
 */
export async function removeStaleGuests(
  deps: { db: Db },
  input: { eventUid: string; fetched: number; keepMemberUids: readonly string[]; maxShare: number; dryRun: boolean },
): Promise<StaleRemoval> {
  const keep = sql.param(input.keepMemberUids);
  const [counts] = await deps.db.execute<{ synced: number; stale: number }>(sql`
    SELECT count(*)::int AS synced, count(*) FILTER (WHERE NOT ("memberUid" = ANY(${keep}::text[])))::int AS stale
    FROM "PLEventGuest" WHERE "eventUid" = ${input.eventUid} AND "externalGuestId" IS NOT NULL`);
  const synced = counts?.synced ?? 0;
  const stale = counts?.stale ?? 0;
  if (stale === 0) return { synced, stale, removed: 0, guard: null };
  if (input.fetched === 0) return { synced, stale, removed: 0, guard: 'empty_list' };
  if (stale / synced > input.maxShare) return { synced, stale, removed: 0, guard: 'share_exceeded' };
  if (input.dryRun) {
    const staleRows = await deps.db.execute<{ memberUid: string; externalGuestId: string }>(sql`
      SELECT "memberUid", "externalGuestId" FROM "PLEventGuest"
      WHERE "eventUid" = ${input.eventUid} AND "externalGuestId" IS NOT NULL AND NOT ("memberUid" = ANY(${keep}::text[]))
      ORDER BY "memberUid" LIMIT ${DRY_RUN_LIST_LIMIT}`);
    return { synced, stale, removed: 0, guard: null, staleRows: [...staleRows] };
  }
  const deleted = await deps.db.execute(sql`
    DELETE FROM "PLEventGuest"
    WHERE "eventUid" = ${input.eventUid} AND "externalGuestId" IS NOT NULL AND NOT ("memberUid" = ANY(${keep}::text[]))
    RETURNING 1`);
  return { synced, stale, removed: deleted.length, guard: null };
}
