import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';

/**
 * Why a sync removed nothing although removal is on; each is a metric label. 'resumed' is
 * decided by the sync, not here: an attempt that resumed mid-list lacks the complete list.
 */
export type StaleGuard = 'skipped_entries' | 'empty_list' | 'share_exceeded' | 'resumed';

export interface StaleRemoval {
  /** Synced rows of the event before removal. */
  synced: number;
  /** Synced rows neither whose Luma guest id nor whose member was on the complete list. */
  stale: number;
  /** Rows actually removed: 0 when a guard tripped or in a dry run. */
  removed: number;
  /** Why nothing was removed, if a guard held removal back. */
  guard: StaleGuard | null;
  /** In a dry run: the rows a real run would remove (at most DRY_RUN_LIST_LIMIT). */
  staleRows?: Array<{ memberUid: string; externalGuestId: string }>;
}

export interface StaleInput {
  eventUid: string;
  /** Usable entries read: the complete approved list, every page of it. */
  fetched: number;
  /** Entries of that list without a usable guest id: any of the rows could be theirs. */
  unidentified: number;
  /** Every Luma guest id on the list, those of entries skipped for an unusable email included. */
  keepGuestIds: readonly string[];
  /** Every member matched on the list (under whichever guest id). */
  keepMemberUids: readonly string[];
  maxShare: number;
  dryRun: boolean;
}

/** A dry run lists at most this many stale rows; the count is always exact. */
const DRY_RUN_LIST_LIMIT = 1000;

/**
 * Removes the event's synced rows (externalGuestId set) whose Luma guest id is absent
 * from the complete approved list this sync read, unless their member was matched on
 * it under another id. Rows the directory created are never touched. When in doubt it
 * keeps, because a removed row loses whatever the directory or the member added to it:
 * a list with any entry without a usable guest id (that entry could be any of the rows),
 * an empty list, or a removal above `maxShare` of the synced rows removes nothing. An
 * entry skipped for its email alone keeps its own guest id's row and holds back nothing else.
 *
 * The count behind the guards and the delete are one statement, so they see the same
 * rows; the sync runs it in its finish transaction, after the fencing UPDATE of its claim
 * (claim.ts), which keeps another sync of the event from writing meanwhile.
 */
export async function removeStaleGuests(deps: { db: Db }, input: StaleInput): Promise<StaleRemoval> {
  const ids = sql.param(input.keepGuestIds);
  const keep = sql.param(input.keepMemberUids);
  const isStale = sql`NOT ("externalGuestId" = ANY(${ids}::text[]) OR "memberUid" = ANY(${keep}::text[]))`;
  const [row] = await deps.db.execute<{ synced: number; stale: number; guard: StaleGuard | null; removed: number }>(sql`
    WITH synced AS (
      SELECT id, ${isStale} AS stale FROM "PLEventGuest"
      WHERE "eventUid" = ${input.eventUid} AND "externalGuestId" IS NOT NULL
    ), verdict AS (
      SELECT count(*)::int AS synced, count(*) FILTER (WHERE stale)::int AS stale FROM synced
    ), guarded AS (
      SELECT synced, stale, CASE
        WHEN ${input.unidentified}::int > 0 THEN 'skipped_entries'
        WHEN stale = 0 THEN NULL
        WHEN ${input.fetched}::int = 0 THEN 'empty_list'
        WHEN stale > synced * ${String(input.maxShare)}::numeric THEN 'share_exceeded'
      END AS guard FROM verdict
    ), deleted AS (
      DELETE FROM "PLEventGuest" g USING synced s, guarded v
      WHERE g.id = s.id AND s.stale AND v.guard IS NULL AND NOT ${input.dryRun}::boolean
      RETURNING 1
    )
    SELECT synced, stale, guard, (SELECT count(*) FROM deleted)::int AS removed FROM guarded`);
  const result: StaleRemoval = {
    synced: row?.synced ?? 0,
    stale: row?.stale ?? 0,
    removed: row?.removed ?? 0,
    guard: row?.guard ?? null,
  };
  if (!input.dryRun || result.guard || result.stale === 0) return result;
  const staleRows = await deps.db.execute<{ memberUid: string; externalGuestId: string }>(sql`
    SELECT "memberUid", "externalGuestId" FROM "PLEventGuest"
    WHERE "eventUid" = ${input.eventUid} AND "externalGuestId" IS NOT NULL AND ${isStale}
    ORDER BY "memberUid" LIMIT ${DRY_RUN_LIST_LIMIT}`);
  return { ...result, staleRows: [...staleRows] };
}
