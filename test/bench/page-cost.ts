/**
 * Where a first sync's database time goes: `node test/bench/page-cost.ts [guests=50000]
 * [members=200000] [rounds=3]` (through `sh .ci/node24.sh`). A throwaway embedded PostgreSQL
 * with the bench's seeded directory; each variant writes the same first sync of one event
 * (a new event each time) on one connection, one statement after another, and the figure
 * is that connection's backend CPU time (from /proc: the server must be on this machine),
 * which a loaded machine inflates far less than wall time. Rounds interleave the variants.
 *
 * - `page statement`: every page as a sync sends it (prepared, fenced by a real claim).
 * - `... without the existing-guest probe`: the same, with luma_guest_sync.not_yet_guests
 *   replaced by a function that returns every member (the rows are new anyway).
 * - `page floor`: the same rows page by page, member and team already known (resolved in
 *   this process beforehand): a plain INSERT of 100 guests' rows per statement.
 * - `write floor`: the same rows in one bulk INSERT, as scenario 1 of `npm run bench`.
 *
 * Issue 22's levers (now in the page statement and migration 0014) were measured as extra
 * ways of this tool, each alone and together: `git show 3cbde0e:test/bench/page-cost.ts`.
 *
 * A fifth argument keeps only the ways whose name contains one of its comma-separated
 * words (the write floor always runs). The backend's pid is printed first, for
 * `perf record -p`. Every way must write the same rows, or the tool fails.
 *
 * The difference between the page floor and the write floor is what writing page by page
 * costs; between the page statement and the page floor, the matching in the database
 * (the normalised-email probes, the duplicate-account pick, the team lookup and the
 * existing-guest probe). Not part of `npm run bench`: a tool.
 */

import { PgDialect } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import { startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import type { ExternalGuest } from '../../src/providers/types.ts';
import { pageStatement } from '../../src/sync/add-page-guests.ts';
import { acquireClaim } from '../../src/sync/claim.ts';
import { median } from './harness.ts';
import { cpuMsOf } from './process-probe.ts';
import { seedBenchEvent, seedBulkMembers } from './seed-bulk.ts';
import { createBenchDatabase } from './sync-env.ts';
import { writeFloorStatement } from './sync-scenarios.ts';

const guests = Number(process.argv[2] ?? 50_000);
const members = Number(process.argv[3] ?? 200_000);
const rounds = Number(process.argv[4] ?? 3);
/** Only the ways whose name contains one of these (comma-separated), the write floor always. */
const only = process.argv[5]?.split(',');
const pageSize = 100;
const dialect = new PgDialect();

type Statement = { text: string; params: unknown[] };
type Variant = (eventUid: string) => Promise<Statement[]>;

const pg = await startEmbeddedPostgres();
const bench = await createBenchDatabase(pg.url);
const conn = postgres(bench.url, { max: 1, onnotice: () => {} });
try {
  await seedBulkMembers(bench.sql, members);
  // The existing-guest probe left out: every member of the page is taken as not yet a guest.
  await bench.sql.unsafe(
    `CREATE FUNCTION luma_guest_sync.all_members(text, text[]) RETURNS SETOF text LANGUAGE sql IMMUTABLE AS 'SELECT unnest($2)'`,
  );
  const pages = guestPages(guests);
  const known = await knownMembers(bench.sql);

  const variants: Record<string, Variant> = {
    'page statement': (eventUid) => fencedPages(bench, eventUid, pages),
    'page statement without the existing-guest probe': async (eventUid) =>
      (await fencedPages(bench, eventUid, pages)).map((s) => ({
        ...s,
        text: replaceOnce(s.text, 'luma_guest_sync.not_yet_guests(', 'luma_guest_sync.all_members('),
      })),
    'page floor (members known, one INSERT per page)': async (eventUid) =>
      pages.map((page) => {
        const rows = page.flatMap((g) => {
          const m = known.get(g.email);
          return m ? [{ ...m, guestId: g.externalGuestId }] : [];
        });
        return {
          text: `INSERT INTO "PLEventGuest" (uid, "eventUid", "locationUid", "memberUid", "teamUid", "externalGuestId", "updatedAt")
            SELECT 'c' || substr(encode(uuid_send(gen_random_uuid()), 'hex'), 1, 24), $1, 'bench-loc', m, t, g, $5::timestamp(3)
            FROM unnest($2::text[], $3::text[], $4::text[]) AS u(m, t, g)`,
          params: [
            eventUid,
            rows.map((r) => r.uid),
            rows.map((r) => r.teamUid),
            rows.map((r) => r.guestId),
            new Date().toISOString(),
          ],
        };
      }),
    'write floor (one bulk INSERT)': async (eventUid) => [writeFloorStatement(eventUid, guests)],
  };
  for (const name of Object.keys(variants)) {
    if (only && !name.startsWith('write floor') && !only.some((o) => name.includes(o))) delete variants[name];
  }

  const [backend] = await conn<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
  const pid = backend!.pid;
  console.log(`backend pid ${pid}`);
  const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  let events = 0;
  const written: Record<string, number> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, statements] of Object.entries(variants)) {
      const eventUid = `evt-cost-${++events}`;
      await seedBenchEvent(bench.sql, eventUid, eventUid);
      const list = await statements(eventUid);
      const before = cpuMsOf(pid);
      for (const s of list) await conn.unsafe(s.text, s.params as never[], { prepare: true });
      cpu[name]!.push(cpuMsOf(pid) - before);
      // Every way must write the same rows, or its time says nothing.
      const [row] = await bench.sql<
        { rows: number }[]
      >`SELECT count(*)::int AS rows FROM "PLEventGuest" WHERE "eventUid" = ${eventUid}`;
      written[name] = row!.rows;
    }
    if (new Set(Object.values(written)).size > 1)
      throw new Error(`the ways wrote different rows: ${JSON.stringify(written)}`);
  }
  const floor = median(cpu['write floor (one bulk INSERT)']!);
  console.log(`\n${guests} guests, ${members} members, ${rounds} rounds: backend CPU, median (min–max)`);
  for (const [name, values] of Object.entries(cpu)) {
    const m = median(values);
    console.log(
      `${name.padEnd(50)} ${String(Math.round(m)).padStart(6)} ms (${Math.min(...values)}–${Math.max(...values)})  ${(m / floor).toFixed(2)}× the write floor`,
    );
  }
  // Per round, each way against the same round's write floor, and what it saves against
  // the current page statement of that round: a lever is real when it saves in every round.
  const floors = cpu['write floor (one bulk INSERT)']!;
  const current = cpu['page statement'];
  console.log(
    `\nper round: / write floor of the round${current ? '; saved against the page statement, in write floors' : ''}`,
  );
  for (const [name, values] of Object.entries(cpu)) {
    const ratios = values.map((v, i) => v / floors[i]!);
    const saved = current ? values.map((v, i) => (current[i]! - v) / floors[i]!) : [];
    console.log(
      `${name.padEnd(50)} ${ratios.map((r) => r.toFixed(2)).join(' ')}` +
        (current ? `  saved ${saved.map((r) => r.toFixed(2)).join(' ')} (median ${median(saved).toFixed(2)})` : ''),
    );
  }
} finally {
  await conn.end();
  await bench.drop();
  await pg.stop();
}

function guestPages(count: number): ExternalGuest[][] {
  const pages: ExternalGuest[][] = [];
  for (let first = 0; first < count; first += pageSize) {
    const page: ExternalGuest[] = [];
    for (let i = first; i < Math.min(count, first + pageSize); i++) {
      page.push({
        externalGuestId: `gst-${i}`,
        email: `guest${i}@example.com`,
        name: null,
        approvalStatus: 'approved',
        registeredAt: null,
      });
    }
    pages.push(page);
  }
  return pages;
}

/** Every member by the email a simulated guest has (the bench's members are ASCII). */
async function knownMembers(sql: postgres.Sql) {
  const rows = await sql<{ email: string; uid: string; teamUid: string | null }[]>`
    SELECT lower(m.email) AS email, m.uid, r."teamUid"
    FROM "Member" m LEFT JOIN "TeamMemberRole" r ON r."memberUid" = m.uid AND r."mainTeam"`;
  return new Map(rows.map((r) => [r.email, r]));
}

/** The page statements of a first sync of `eventUid`, fenced by a claim taken now. */
async function fencedPages(db: typeof bench, eventUid: string, pages: ExternalGuest[][]): Promise<Statement[]> {
  const claim = await acquireClaim(db.db, eventUid, { leaseSeconds: 3600 });
  const target = { eventUid, locationUid: 'bench-loc' };
  return pages.map((page, i) => {
    const checkpoint = {
      nextCursor: i + 1 < pages.length ? `c${i + 1}` : null,
      pagesDone: i + 1,
      externalEventId: eventUid,
    };
    const { sql: text, params } = dialect.sqlToQuery(
      pageStatement(target, page, new Date(), { fence: { claim, checkpoint } }),
    );
    return { text, params };
  });
}

function replaceOnce(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`the page statement no longer contains "${from}": update this tool`);
  return text.replace(from, to);
}
