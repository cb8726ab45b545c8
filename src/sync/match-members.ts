import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { member, teamMemberRole } from '../db/schema.ts';
import type { ExternalGuest } from '../providers/types.ts';

/** A guest matched to a directory member, with the member's main team when there is one. */
export interface MatchedGuest {
  memberUid: string;
  teamUid: string | null;
  externalGuestId: string;
}

export interface MatchResult {
  /** One entry per member, however many guests of the page share their email. */
  matches: MatchedGuest[];
  /** Guests of the page whose email belongs to at least one member. */
  matchedGuests: number;
}

/** The email form both sides are compared in; migrations index Member on the same expression. */
const normalizedEmail = sql<string>`lower(btrim(${member.email}))`;

/**
 * Matches one page of guests to directory members by email, trimmed and
 * case-insensitive on both sides, in one query that also brings each member's main
 * team. Soft-deleted members never match. Guests' emails arrive normalised.
 */
export async function matchMembers(deps: { db: Db }, guests: readonly ExternalGuest[]): Promise<MatchResult> {
  if (guests.length === 0) return { matches: [], matchedGuests: 0 };
  const emails = [...new Set(guests.map((guest) => guest.email))];
  const rows = await deps.db
    .select({ memberUid: member.uid, teamUid: teamMemberRole.teamUid, email: normalizedEmail })
    .from(member)
    .leftJoin(teamMemberRole, and(eq(teamMemberRole.memberUid, member.uid), eq(teamMemberRole.mainTeam, true)))
    .where(and(inArray(normalizedEmail, emails), isNull(member.deletedAt)));

  // The first guest of the page with a member's email gives that member's externalGuestId.
  const firstGuestByEmail = new Map<string, ExternalGuest>();
  for (const guest of guests) if (!firstGuestByEmail.has(guest.email)) firstGuestByEmail.set(guest.email, guest);

  const byMember = new Map<string, MatchedGuest>();
  const matchedEmails = new Set<string>();
  for (const row of rows) {
    const guest = firstGuestByEmail.get(row.email);
    if (!guest || byMember.has(row.memberUid)) continue;
    matchedEmails.add(row.email);
    byMember.set(row.memberUid, {
      memberUid: row.memberUid,
      teamUid: row.teamUid,
      externalGuestId: guest.externalGuestId,
    });
  }
  const matchedGuests = guests.reduce((n, guest) => n + (matchedEmails.has(guest.email) ? 1 : 0), 0);
  return { matches: [...byMember.values()], matchedGuests };
}
