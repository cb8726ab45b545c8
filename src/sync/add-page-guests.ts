import { type SQL, sql } from 'drizzle-orm';
import { type Db, executePrepared } from '../db/client.ts';
import { newUid } from '../db/ids.ts';
import type { ExternalGuest } from '../providers/types.ts';
import { type CheckpointWrite, type Claim, fenceUpdate } from './claim.ts';
import type { PageConnection } from './page-connection.ts';

export interface GuestTarget {
  eventUid: string;
  locationUid: string;
}

export interface PageOutcome {
  /** Guests of the page whose email belongs to at least one member. */
  matchedGuests: number;
  /** Every member matched on the page, one entry each. */
  matchedMemberUids: string[];
  /** Members added as guests (in a dry run: who would be). */
  createdMemberUids: string[];
  /** Guests whose email matched several members (duplicate accounts); one member each was taken. */
  ambiguousGuestIds: string[];
  /** With a fence: false when the claim was no longer this sync's, and nothing was written. */
  held: boolean;
}

/**
 * The claim a page write must still hold, and the checkpoint it records with its pages. A
 * statement writes one page, or several consecutive ones (page-writer.ts): `guests` are
 * then theirs in page order, and the checkpoint is the last page's.
 */
export interface PageFence {
  claim: Claim;
  /** Its `pagesDone` is the statement's last page: page 1 starts a read of the list. */
  checkpoint: CheckpointWrite;
  /** The statement's first page, when it writes several; the checkpoint's page when absent. */
  firstPage?: number;
  /**
   * When given, one entry per page the statement writes, in page order: each is recorded in
   * luma_guest_sync.listed_page for stale removal (remove-stale.ts) with its guest ids (the
   * next `fetched` of `guests`), these ids of entries skipped for their email, the members
   * its guests matched, and how many entries had no usable guest id.
   */
  listing?: readonly ListedPage[];
}

export interface ListedPage {
  page: number;
  /** The page's guests: the next this many of the statement's. */
  fetched: number;
  skippedGuestIds: readonly string[];
  unidentified: number;
}

/**
 * Matches one page of guests (or several consecutive pages', see PageFence) to directory
 * members and adds the members who are not yet guests of the event — in one statement,
 * whatever the page size.
 *
 * Matching: both sides' emails go through one normalisation in the database,
 * luma_guest_sync.normalize_email (migration 0007: every Unicode whitespace trimmed,
 * lower(), NFC; 0014 skips the NFC pass on ASCII, where it changes nothing), and the
 * "Member" side is an index probe on that expression; soft-deleted
 * members never match; a guest whose email several members share (duplicate accounts)
 * gets one of them — the exact-case match, else the oldest — and is reported; a member whose email repeats on the page is taken once, with the
 * first guest's id; the main team comes from "TeamMemberRole"."mainTeam".
 *
 * Duplicate-proof in the database, not in this process: a member already listed for the
 * event — at whatever location, rows the directory created included — is skipped, and
 * the partial unique index on synced (event, member) pairs refuses a second synced row
 * (unfenced: ON CONFLICT DO NOTHING turns it into a no-op; fenced: see below). Existing
 * rows are never updated.
 *
 * Fenced (with `fence`): the same statement first runs the claim's fencing UPDATE (claim.ts),
 * which also extends the lease and records the checkpoint, and inserts only when that
 * UPDATE found the claim still this sync's. So a sync whose claim lapsed or was taken over
 * writes no guest and no checkpoint, and learns it from `held`; there is no gap between a
 * check and the write. Past page 1 the fence also needs the claim's checkpoint to be the
 * page before the statement's first, so a page written out of order (its predecessor
 * failed) writes nothing and is not `held` either. An empty page still runs the statement,
 * for its checkpoint.
 * A fenced insert is a plain INSERT: the fence makes this sync the event's only writer of
 * synced rows (a second writer's fence waits on the claim's row, then finds it lost), and
 * the existing-guest probe already skipped every member listed, so the unique index can
 * only be hit by a bug, which then fails the page loudly instead of hiding. ON CONFLICT DO
 * NOTHING checked every unique index of "PLEventGuest" before each row (speculative
 * insertion): ~10–20% of a first sync's database time (docs/performance.md). An unfenced
 * write (tests, tools) keeps ON CONFLICT DO NOTHING.
 *
 * The read's list (fenced only): page 1 deletes the event's listed_page rows of any earlier
 * read, and with `fence.listing` each page adds its own row, in the same statement as its
 * checkpoint: the rows are always exactly the pages of the current read written so far,
 * whichever attempt wrote them, so a resumed sync can remove stale guests exactly.
 *
 * With `deps.connection`, the statement is sent on the sync's page connection, behind the
 * page before it (page-connection.ts); on the pool otherwise.
 *
 * With `dryRun`, nothing is written; members in `alreadyCounted` (counted on earlier pages
 * of the same dry run) are not reported again.
 */
export async function addPageGuests(
  deps: { db: Db; now?: () => Date; connection?: PageConnection },
  target: GuestTarget,
  guests: readonly ExternalGuest[],
  options: { dryRun?: boolean; alreadyCounted?: ReadonlySet<string>; fence?: PageFence } = {},
): Promise<PageOutcome> {
  if (guests.length === 0 && !options.fence) {
    return { matchedGuests: 0, matchedMemberUids: [], createdMemberUids: [], ambiguousGuestIds: [], held: true };
  }
  const statement = pageStatement(target, guests, deps.now?.() ?? new Date(), options);
  const [row] = deps.connection
    ? await deps.connection.send<PageRow>(statement)
    : await executePrepared<PageRow>(deps.db, statement);

  const created = row?.created ?? [];
  const counted = options.alreadyCounted;
  return {
    matchedGuests: row?.matched_guests ?? 0,
    matchedMemberUids: row?.matched ?? [],
    createdMemberUids: counted ? created.filter((uid) => !counted.has(uid)) : created,
    ambiguousGuestIds: row?.ambiguous ?? [],
    held: row?.held ?? false,
  };
}

interface PageRow {
  matched_guests: number;
  matched: string[] | null;
  created: string[] | null;
  held: boolean;
  ambiguous: string[] | null;
}

/** The page's one statement; exported so a test can EXPLAIN it. */
export function pageStatement(
  target: GuestTarget,
  guests: readonly ExternalGuest[],
  now: Date,
  options: { dryRun?: boolean; fence?: PageFence } = {},
): SQL {
  // A dry run writes nothing; a fence writes the claim's lease and checkpoint.
  if (options.dryRun && options.fence) throw new Error('a dry run takes no fence: it would write the claim');
  const emails = sql.param(guests.map((g) => g.email));
  const guestIds = sql.param(guests.map((g) => g.externalGuestId));

  // The database has no default for uid, so the writer supplies one per row: one per guest
  // of the page, made here (newUid: the shape of the cuids Prisma writes), and a member's
  // row takes its guest's by position. Made in SQL (gen_random_uuid() per row) they cost
  // ~3% of a first sync's database CPU (issue 22, docs/performance.md).
  const rowUids = options.dryRun ? sql`NULL` : sql.param(guests.map(() => newUid()));

  const fence = options.fence;
  const firstPage = fence?.firstPage ?? fence?.checkpoint.pagesDone;
  const write = options.dryRun
    ? sql`created AS (SELECT member_uid AS "memberUid" FROM fresh)`
    : // Drizzle passes raw-SQL parameters as text; the schema's timestamps hold UTC.
      sql`created AS (
        INSERT INTO "PLEventGuest"
          ("uid", "eventUid", "locationUid", "memberUid", "teamUid", "externalGuestId", "updatedAt")
        SELECT (${rowUids}::text[])[ord], ${target.eventUid}, ${target.locationUid}, member_uid, team_uid, external_guest_id,
               ${now.toISOString()}::timestamp(3)
        FROM fresh
        ${fence ? sql`` : sql`ON CONFLICT DO NOTHING`}
        RETURNING "memberUid")`;

  // Without a fence, a one-row stand-in, so the statement's shape is the same either way.
  const claim = fence
    ? sql`claim AS (${fenceUpdate(fence.claim, fence.checkpoint, firstPage)}),`
    : sql`claim AS (SELECT 1 AS held),`;

  // Data-modifying CTEs run whether or not they are referenced, on the statement's snapshot.
  // Only a fenced statement (never a dry run's, see above) has a first page.
  const forget =
    firstPage === 1
      ? sql`, forgotten AS (
        DELETE FROM luma_guest_sync.listed_page WHERE event_uid = ${target.eventUid} AND EXISTS (SELECT 1 FROM claim))`
      : sql``;
  const listing = fence?.listing
    ? listedPages(target, guests, fence.listing, firstPage!, fence.checkpoint.pagesDone)
    : sql``;

  return sql`
    WITH ${claim}
    page AS (
      SELECT * FROM unnest(${emails}::text[], ${guestIds}::text[]) WITH ORDINALITY AS p(email, external_guest_id, ord)
    ),
    candidates AS (
      -- A probe of the normalised-email index per guest: as a plain join the planner,
      -- costing normalize() like a comparison, hashes the whole member table instead and
      -- normalises every member's email on every page. OFFSET 0 keeps the LATERAL
      -- subquery from being flattened into such a join. Every live member with the
      -- guest's normalised email: nearly always one, several for duplicate accounts.
      SELECT m.uid AS member_uid, m.email = page.email AS exact, m.id, page.external_guest_id, page.ord
      FROM page CROSS JOIN LATERAL (
        SELECT m.uid, m.email, m.id FROM "Member" m
        WHERE luma_guest_sync.normalize_email(m.email) = luma_guest_sync.normalize_email(page.email)
          AND m."deletedAt" IS NULL
        OFFSET 0
      ) m
    ),
    hits AS (
      -- One member per guest (issue 21 §5): when duplicate accounts share the normalised
      -- email, the one written exactly as the guest's, else the oldest (lowest id), so
      -- every sync picks the same one; "candidates" counts the collision. Picked once for
      -- the page (one sort, one window) rather than inside each guest's probe, where a
      -- sort, a window and a limit were re-run per guest (issue 22: ~3% of a first
      -- sync's database CPU).
      SELECT DISTINCT ON (ord) member_uid, count(*) OVER (PARTITION BY ord) AS candidates, external_guest_id, ord
      FROM candidates
      ORDER BY ord, exact DESC, id
    ),
    members AS (
      SELECT DISTINCT ON (member_uid) member_uid, external_guest_id, ord FROM hits ORDER BY member_uid, ord
    ),
    fresh AS (
      -- Index probes per member, never joins: while a sync adds thousands of rows to a new
      -- event the planner's statistics still say it has none, and a join plan would then
      -- scan all of the event's rows (or all of "TeamMemberRole") for every page. The
      -- probe of "PLEventGuest", the table the sync grows, is a function planned with
      -- sequential scans off whatever the statistics say (migration 0013; PL/pgSQL since
      -- 0014, so its plan is kept per session; keyed by the event alone: after the event
      -- moved, its members are still its guests).
      SELECT members.member_uid, members.external_guest_id, members.ord,
        (SELECT r."teamUid" FROM "TeamMemberRole" r WHERE r."memberUid" = members.member_uid AND r."mainTeam" LIMIT 1)
          AS team_uid
      FROM members
      JOIN luma_guest_sync.not_yet_guests(${target.eventUid}, ARRAY(SELECT member_uid FROM members)) AS not_yet(member_uid)
        USING (member_uid)
      WHERE EXISTS (SELECT 1 FROM claim)
    ),
    ${write}${forget}${listing}
    SELECT
      (SELECT count(DISTINCT ord) FROM hits)::int AS matched_guests,
      (SELECT array_agg(member_uid) FROM members) AS matched,
      (SELECT array_agg("memberUid") FROM created) AS created,
      (SELECT array_agg(external_guest_id ORDER BY ord) FROM hits WHERE candidates > 1) AS ambiguous,
      EXISTS (SELECT 1 FROM claim) AS held`;
}

/**
 * The `listed` CTE: a listed_page row per page of `pages`, which must be the statement's
 * pages `firstPage` to `lastPage`. A page's guests are a range of the statement's positions
 * (`ord`); its members, those its own guests matched.
 */
function listedPages(
  target: GuestTarget,
  guests: readonly ExternalGuest[],
  pages: readonly ListedPage[],
  firstPage: number,
  lastPage: number,
): SQL {
  const firstOrds: number[] = [];
  let next = 1;
  for (const page of pages) {
    firstOrds.push(next);
    next += page.fetched;
  }
  const consecutive = pages.every((p, i) => p.page === firstPage + i);
  if (next !== guests.length + 1 || !consecutive || pages.at(-1)?.page !== lastPage) {
    throw new Error(
      `listing of pages ${pages.map((p) => p.page).join(',')} (${next - 1} guests) does not match the statement's ` +
        `${guests.length} guests, pages ${firstPage} to ${lastPage}`,
    );
  }
  const skippedIds = pages.flatMap((p) => p.skippedGuestIds);
  const skippedPages = pages.flatMap((p) => p.skippedGuestIds.map(() => p.page));
  return sql`, listed AS (
    INSERT INTO luma_guest_sync.listed_page (event_uid, page, guest_ids, member_uids, fetched, unidentified)
    SELECT ${target.eventUid}, l.page,
      ARRAY(SELECT external_guest_id FROM page WHERE ord >= l.first_ord AND ord < l.first_ord + l.fetched ORDER BY ord)
        || ARRAY(SELECT s.id FROM unnest(${sql.param(skippedIds)}::text[], ${sql.param(skippedPages)}::int[]) AS s(id, page)
                 WHERE s.page = l.page),
      coalesce((SELECT array_agg(DISTINCT member_uid) FROM hits WHERE ord >= l.first_ord AND ord < l.first_ord + l.fetched), '{}'),
      l.fetched, l.unidentified
    FROM unnest(${sql.param(pages.map((p) => p.page))}::int[], ${sql.param(firstOrds)}::int[],
                ${sql.param(pages.map((p) => p.fetched))}::int[], ${sql.param(pages.map((p) => p.unidentified))}::int[])
      AS l(page, first_ord, fetched, unidentified)
    WHERE EXISTS (SELECT 1 FROM claim))`;
}
