import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { eq } from 'drizzle-orm';
import got from 'got';
import type { Database } from '../../src/db/client.ts';
import { plEvent } from '../../src/db/schema.ts';
import { silentLogger } from '../../src/log.ts';
import { runPostSyncPush } from '../../src/sync/post-sync.ts';

/**
 * The business flow's design (luma-guest-sync-business-flow.md), built the way it
 * describes it, as the yardstick the worker is measured against in `npm run bench`:
 * pages of 50 guests; each page fetched, then written, before the next is fetched; per
 * page a member lookup by email, a main-team lookup, an existing-guest lookup and one
 * multi-row insert that skips duplicates (Prisma's createMany with skipDuplicates); a
 * 429 waits a fixed 60 s and is retried up to 3 times. Then guestLastSyncedAt and the
 * same push refresh as the worker. Not part of the worker.
 *
 * Where the flow leaves a choice open, the reference gets the benefit of the doubt: its
 * member lookup (lower(email), emails lower-cased and trimmed first) is an index probe
 * (referenceIndexes), not the sequential scan of "Member" a case-insensitive ORM lookup
 * would otherwise make on every page.
 */
export interface ReferenceDeps {
  database: Database;
  lumaUrl: string;
  apiKey: string;
  /** 50 in the business flow. */
  pageSize?: number;
  /** The fixed wait after a 429: 60 s in the business flow. */
  rateLimitWaitMs?: number;
}

export interface ReferenceTarget {
  eventUid: string;
  locationUid: string;
  externalEventId: string;
}

interface LegacyEntry {
  api_id?: string;
  guest?: { api_id?: string; email?: string };
}

/** The index the reference's member lookup probes; created once per benchmark database. */
export async function referenceIndexes(sql: Database['sql']): Promise<void> {
  await sql`CREATE INDEX IF NOT EXISTS "bench_reference_member_lower_email_idx" ON "Member"(lower("email"))`;
  await sql`ANALYZE "Member"`;
}

/** Syncs one event the business flow's way; returns what it fetched and created. */
export async function referenceSync(deps: ReferenceDeps, target: ReferenceTarget) {
  const { sql, db } = deps.database;
  const pageSize = deps.pageSize ?? 50;
  const http = got.extend({
    prefixUrl: deps.lumaUrl,
    headers: { 'x-luma-api-key': deps.apiKey, accept: 'application/json' },
    throwHttpErrors: false,
    retry: { limit: 0 },
  });
  const totals = { pages: 0, fetched: 0, created: 0 };
  let cursor: string | undefined;
  for (;;) {
    const page = await fetchPage(http, target.externalEventId, pageSize, cursor, deps.rateLimitWaitMs ?? 60_000);
    totals.pages++;
    const guests = page.entries
      .map((entry) => entry.guest ?? entry)
      .filter((g): g is { api_id: string; email: string } => Boolean(g.api_id && 'email' in g && g.email));
    totals.fetched += guests.length;
    totals.created += await writePage(sql, target, guests);
    if (!page.has_more || !page.next_cursor) break;
    cursor = page.next_cursor;
  }
  const syncedAt = new Date();
  await db.update(plEvent).set({ guestLastSyncedAt: syncedAt }).where(eq(plEvent.uid, target.eventUid));
  await runPostSyncPush({ db, now: () => syncedAt, log: silentLogger }, [target]);
  return totals;
}

async function fetchPage(
  http: typeof got,
  eventId: string,
  pageSize: number,
  cursor: string | undefined,
  rateLimitWaitMs: number,
) {
  const searchParams: Record<string, string> = {
    event_api_id: eventId,
    approval_status: 'approved',
    pagination_limit: String(pageSize),
  };
  if (cursor) searchParams.pagination_cursor = cursor;
  for (let attempt = 0; ; attempt++) {
    const response = await http.get('v1/event/get-guests', { searchParams, responseType: 'text' });
    if (response.statusCode === 429 && attempt < 3) {
      await delay(rateLimitWaitMs);
      continue;
    }
    if (response.statusCode !== 200) throw new Error(`Luma answered ${response.statusCode} for event ${eventId}`);
    return JSON.parse(response.body) as { entries: LegacyEntry[]; has_more: boolean; next_cursor?: string };
  }
}

/** Phases 4 and 5 of the flow for one page: four statements when anyone matched. */
async function writePage(
  sql: Database['sql'],
  target: ReferenceTarget,
  guests: { api_id: string; email: string }[],
): Promise<number> {
  const emails = [...new Set(guests.map((g) => g.email.toLowerCase().trim()))];
  if (emails.length === 0) return 0;
  const members = await sql<{ uid: string; email: string }[]>`
    SELECT uid, lower(email) AS email FROM "Member" WHERE lower(email) = ANY(${emails}) AND "deletedAt" IS NULL`;
  if (members.length === 0) return 0;
  const memberByEmail = new Map(members.map((m) => [m.email, m.uid]));
  const memberUids = members.map((m) => m.uid);
  const teams = await sql<{ memberUid: string; teamUid: string }[]>`
    SELECT "memberUid", "teamUid" FROM "TeamMemberRole" WHERE "memberUid" = ANY(${memberUids}) AND "mainTeam" = true`;
  const teamOf = new Map(teams.map((t) => [t.memberUid, t.teamUid]));
  const existing = await sql<{ memberUid: string }[]>`
    SELECT "memberUid" FROM "PLEventGuest"
    WHERE "eventUid" = ${target.eventUid} AND "locationUid" = ${target.locationUid} AND "memberUid" = ANY(${memberUids})`;
  const listed = new Set(existing.map((row) => row.memberUid));
  // Drizzle's serializers on this client take timestamps as text; the schema's hold UTC.
  const now = new Date().toISOString();
  const rows = guests.flatMap((guest) => {
    const memberUid = memberByEmail.get(guest.email.toLowerCase().trim());
    if (!memberUid || listed.has(memberUid)) return [];
    listed.add(memberUid);
    return [
      {
        uid: `c${randomBytes(12).toString('hex')}`,
        eventUid: target.eventUid,
        locationUid: target.locationUid,
        memberUid,
        teamUid: teamOf.get(memberUid) ?? null,
        externalGuestId: guest.api_id,
        isHost: false,
        isSpeaker: false,
        isSponsor: false,
        isFeatured: false,
        updatedAt: now,
      },
    ];
  });
  if (rows.length === 0) return 0;
  const inserted = await sql`INSERT INTO "PLEventGuest" ${sql(rows)} ON CONFLICT DO NOTHING`;
  return inserted.count;
}
