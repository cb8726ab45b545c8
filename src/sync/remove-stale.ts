import { type SQL, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';

/**
 * Why a sync removed nothing although removal is on; each is a metric label. 'resumed': the
 * read's pages are not all recorded in luma_guest_sync.listed_page (a resumed attempt
 * whose earlier pages were written without it: removal was off, or by a worker older
 * than migration 0012), so the complete list is unknown.
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

/**
 * The complete approved list the removal compares with.
 * - `pages`: the read's pages as the page statements recorded them in
 *   luma_guest_sync.listed_page (add-page-guests.ts), whichever attempts wrote them; the
 *   read ended at page `lastPage`, and removal runs only if pages 1 to `lastPage` are all
 *   there, once each.
 * - `given`: the list as this process holds it (a dry run, which records nothing).
 */
export type ListedGuests =
  | { kind: 'pages'; lastPage: number }
  | {
      kind: 'given';
      /** Usable entries read. */
      fetched: number;
      /** Entries without a usable guest id: any of the rows could be theirs. */
      unidentified: number;
      /** Every Luma guest id on the list, those of entries skipped for an unusable email included. */
      guestIds: readonly string[];
      /** Every member matched on the list (under whichever guest id). */
      memberUids: readonly string[];
    };

export interface StaleInput {
  eventUid: string;
  list: ListedGuests;
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
 * an empty list, a removal above `maxShare` of the synced rows, or a list whose pages are
 * not all recorded removes nothing. An entry skipped for its email alone keeps its own
 * guest id's row and holds back nothing else.
 *
 * The list stays in the database: the process holds none of it (it used to keep two sets
 * of the whole list, ~142 bytes per guest). The count behind the guards and the delete
 * are one statement, so they see the same rows; the sync runs it in its finish
 * transaction, after the fencing UPDATE of its claim (claim.ts), which keeps another sync
 * of the event from writing meanwhile.
 */
export async function removeStaleGuests(deps: { db: Db }, input: StaleInput): Promise<StaleRemoval> {
  const listed = listedPages(input);
  const lastPage = input.list.kind === 'pages' ? input.list.lastPage : 1;
  const [row] = await deps.db.execute<{ synced: number; stale: number; guard: StaleGuard | null; removed: number }>(sql`
    WITH ${listed},
    read AS (
      SELECT count(*)::int AS pages, count(DISTINCT page)::int AS distinct_pages, coalesce(max(page), 0)::int AS last,
        coalesce(sum(fetched), 0)::int AS fetched, coalesce(sum(unidentified), 0)::int AS unidentified
      FROM listed
    ),
    kept_ids AS (SELECT unnest(guest_ids) AS id FROM listed),
    kept_members AS (SELECT unnest(member_uids) AS uid FROM listed),
    synced AS (
      SELECT id, NOT ("externalGuestId" IN (SELECT id FROM kept_ids) OR "memberUid" IN (SELECT uid FROM kept_members))
        AS stale
      FROM "PLEventGuest"
      WHERE "eventUid" = ${input.eventUid} AND "externalGuestId" IS NOT NULL
    ), verdict AS (
      SELECT count(*)::int AS synced, count(*) FILTER (WHERE stale)::int AS stale FROM synced
    ), guarded AS (
      SELECT synced, stale, CASE
        WHEN read.pages <> ${lastPage}::int OR read.distinct_pages <> ${lastPage}::int OR read.last <> ${lastPage}::int
          THEN 'resumed'
        WHEN read.unidentified > 0 THEN 'skipped_entries'
        WHEN stale = 0 THEN NULL
        WHEN read.fetched = 0 THEN 'empty_list'
        WHEN stale > synced * ${String(input.maxShare)}::numeric THEN 'share_exceeded'
      END AS guard FROM verdict, read
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
    WITH ${listed}
    SELECT "memberUid", "externalGuestId" FROM "PLEventGuest"
    WHERE "eventUid" = ${input.eventUid} AND "externalGuestId" IS NOT NULL
      AND "externalGuestId" NOT IN (SELECT unnest(guest_ids) FROM listed)
      AND "memberUid" NOT IN (SELECT unnest(member_uids) FROM listed)
    ORDER BY "memberUid" LIMIT ${DRY_RUN_LIST_LIMIT}`);
  return { ...result, staleRows: [...staleRows] };
}

/** The `listed` CTE: one row per page of the list (page, guest_ids, member_uids, fetched, unidentified). */
function listedPages(input: StaleInput): SQL {
  const list = input.list;
  if (list.kind === 'pages') {
    return sql`listed AS MATERIALIZED (
      SELECT page, guest_ids, member_uids, fetched, unidentified FROM luma_guest_sync.listed_page
      WHERE event_uid = ${input.eventUid})`;
  }
  return sql`listed AS (
    SELECT 1 AS page, ${sql.param([...list.guestIds])}::text[] AS guest_ids,
      ${sql.param([...list.memberUids])}::text[] AS member_uids, ${list.fetched}::int AS fetched,
      ${list.unidentified}::int AS unidentified)`;
}

/**
 * The statement that forgets an event's recorded list (run by the sync's finish, once
 * removal used it), and any read nobody finished within LISTED_PAGE_DAYS: an event deleted
 * or unlinked mid-read is never resumed. A read resumed after that lacks its first pages
 * and skips removal ('resumed'), as it did before the list was recorded.
 */
export function forgetListedPages(eventUid: string): SQL {
  return sql`
    DELETE FROM luma_guest_sync.listed_page
    WHERE event_uid = ${eventUid} OR written_at < clock_timestamp() - ${LISTED_PAGE_DAYS}::int * interval '1 day'`;
}

/** How long the pages of an unfinished read are kept. */
export const LISTED_PAGE_DAYS = 7;
