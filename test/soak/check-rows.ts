/**
 * The final rows against Luma's final lists: every event's synced rows are exactly its
 * approved guests who are directory members, at the event's current location, with the
 * member's main team, once each; and the rows the directory created are as they were.
 */
import type { Sql } from '../../src/db/client.ts';
import { type SimGuest, simGuest } from '../../src/local/luma-simulator.ts';
import { examples, type Invariant, invariant } from './report.ts';

export interface LumaFinalState {
  lists: Record<string, SimGuest[]>;
  generated: Record<string, number>;
}

/** Every approved guest on Luma's final list of `lumaId`. */
export function approvedGuests(state: LumaFinalState, lumaId: string): SimGuest[] {
  const count = state.generated[lumaId];
  if (count !== undefined) return Array.from({ length: count }, (_, i) => simGuest(lumaId, i));
  return (state.lists[lumaId] ?? []).filter((g) => (g.approvalStatus ?? 'approved') === 'approved');
}

export async function checkRows(sql: Sql, luma: LumaFinalState): Promise<Invariant[]> {
  const events = await sql<{ uid: string; lumaId: string; locationUid: string }[]>`
    SELECT uid, "externalEventId" AS "lumaId", "locationUid" FROM "PLEvent"
    WHERE "externalEventProvider" = 'LUMA' AND NOT "isDeleted" ORDER BY uid`;
  const rows = await sql<
    { eventUid: string; memberUid: string; guestId: string | null; locationUid: string; teamUid: string | null }[]
  >`SELECT "eventUid", "memberUid", "externalGuestId" AS "guestId", "locationUid", "teamUid" FROM "PLEventGuest"`;
  const mainTeam = new Map(
    (
      await sql<{ memberUid: string; teamUid: string }[]>`
        SELECT "memberUid", "teamUid" FROM "TeamMemberRole" WHERE "mainTeam"`
    ).map((r) => [r.memberUid, r.teamUid]),
  );

  const missing: string[] = [];
  const stale: string[] = [];
  const misplaced: string[] = [];
  const wrongTeam: string[] = [];
  let expectedTotal = 0;
  for (const event of events) {
    const guests = approvedGuests(luma, event.lumaId);
    // Members by normalised email, as the worker matches (trim, lower-case; the emails here are ASCII).
    const emails = [...new Set(guests.map((g) => g.email.trim().toLowerCase()))];
    const members = await sql<{ uid: string; email: string }[]>`
      SELECT uid, lower(trim(email)) AS email FROM "Member"
      WHERE lower(trim(email)) = ANY(${emails}) AND "deletedAt" IS NULL`;
    const memberByEmail = new Map(members.map((m) => [m.email, m.uid]));
    const expected = new Set(guests.map((g) => memberByEmail.get(g.email.trim().toLowerCase())).filter(Boolean));
    const approvedIds = new Set(guests.map((g) => g.id));
    const mine = rows.filter((r) => r.eventUid === event.uid);
    const listed = new Set(mine.map((r) => r.memberUid));
    expectedTotal += expected.size;
    for (const uid of expected) if (!listed.has(uid!)) missing.push(`${event.uid}/${uid}`);
    for (const row of mine.filter((r) => r.guestId !== null)) {
      if (!approvedIds.has(row.guestId!) && !expected.has(row.memberUid)) stale.push(`${event.uid}/${row.memberUid}`);
      if (row.locationUid !== event.locationUid) misplaced.push(`${event.uid}/${row.memberUid}@${row.locationUid}`);
      if (row.teamUid !== (mainTeam.get(row.memberUid) ?? null)) wrongTeam.push(`${event.uid}/${row.memberUid}`);
    }
  }
  const pairs = new Map<string, number>();
  for (const row of rows) {
    const key = `${row.eventUid}/${row.memberUid}`;
    pairs.set(key, (pairs.get(key) ?? 0) + 1);
  }
  const duplicates = [...pairs].filter(([, n]) => n > 1).map(([key]) => key);
  return [
    invariant(
      'rows: every approved member-guest has a row',
      missing.length === 0,
      `${missing.length} missing of ${expectedTotal} expected${examples(missing)}`,
    ),
    invariant(
      'rows: no row for a guest Luma no longer approves',
      stale.length === 0,
      `${stale.length} stale synced rows${examples(stale)}`,
    ),
    invariant(
      "rows: at the event's current location",
      misplaced.length === 0,
      `${misplaced.length} misplaced${examples(misplaced)}`,
    ),
    invariant(
      "rows: with the member's main team",
      wrongTeam.length === 0,
      `${wrongTeam.length} wrong${examples(wrongTeam)}`,
    ),
    invariant(
      'rows: no duplicates',
      duplicates.length === 0,
      `${duplicates.length} duplicated pairs${examples(duplicates)}`,
    ),
  ];
}

/** The directory's own rows (no Luma guest id), in full, to compare before and after. */
export async function directoryRows(sql: Sql): Promise<Map<string, string>> {
  const rows = await sql<{ uid: string; row: string }[]>`
    SELECT uid, to_jsonb(g)::text AS row FROM "PLEventGuest" g WHERE "externalGuestId" IS NULL`;
  return new Map(rows.map((r) => [r.uid, r.row]));
}

export function checkDirectoryRows(before: Map<string, string>, after: Map<string, string>): Invariant {
  const changed = [...before].filter(([uid, row]) => after.get(uid) !== row).map(([uid]) => uid);
  const added = [...after.keys()].filter((uid) => !before.has(uid));
  return invariant(
    'rows: directory-created rows untouched',
    changed.length === 0 && added.length === 0 && before.size > 0,
    `${before.size} rows; ${changed.length} changed or gone, ${added.length} new${examples([...changed, ...added])}`,
  );
}
