/**
 * Profiles the page statement of a first sync, page by page: `node test/bench/explain-page.ts
 * [guests=50000] [members=200000]` (through `sh .ci/node24.sh`). A throwaway embedded
 * PostgreSQL, the bench's seeded directory, one event; every page is the statement a sync
 * sends (fenced by a real claim), run as a prepared statement with PostgreSQL's cached
 * (generic) plan on a connection with the default settings, as the page loop runs it.
 * Prints the time of every tenth page, and `EXPLAIN (ANALYZE, BUFFERS)` of pages 1, 250 and
 * the last, where the time goes between the fence, the email probes, the team lookup, the
 * existing-guest probes and the insert (with its foreign-key checks). The existing-guest
 * probes run inside luma_guest_sync.not_yet_guests (migration 0013), one Function Scan in
 * that plan: auto_explain prints the function's own plan after it. Not part of
 * `npm run bench`: a tool.
 */

import { PgDialect } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import { startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import type { ExternalGuest } from '../../src/providers/types.ts';
import { pageStatement } from '../../src/sync/add-page-guests.ts';
import { acquireClaim } from '../../src/sync/claim.ts';
import { seedBenchEvent, seedBulkMembers } from './seed-bulk.ts';
import { createBenchDatabase } from './sync-env.ts';

const guests = Number(process.argv[2] ?? 50_000);
const members = Number(process.argv[3] ?? 200_000);
const pageSize = 100;
const pg = await startEmbeddedPostgres();
const bench = await createBenchDatabase(pg.url);
try {
  await seedBulkMembers(bench.sql, members);
  await seedBenchEvent(bench.sql, 'evt-explain', 'evt-explain');
  const target = { eventUid: 'evt-explain', locationUid: 'bench-loc' };
  const claim = await acquireClaim(bench.db, target.eventUid, { leaseSeconds: 600 });
  let explaining = false;
  const conn = postgres(bench.url, {
    max: 1,
    onnotice: (notice) => {
      // Not the foreign-key checks of every inserted row (PostgreSQL's own lookups by key).
      if (explaining && !String(notice.message).includes('SELECT 1 FROM ONLY'))
        console.log(`\n--- nested statement\n${notice.message}`);
    },
  });
  // The plans of the statements run inside the page statement's functions, as notices
  // (set for the explained pages only: its instrumentation would slow the timed ones).
  await conn.unsafe("LOAD 'auto_explain'");
  const nestedPlans = ['log_nested_statements = on', 'log_analyze = on', 'log_buffers = on', 'log_level = notice'];
  for (const setting of nestedPlans) await conn.unsafe(`SET auto_explain.${setting}`);
  const dialect = new PgDialect();
  const pages = Math.ceil(guests / pageSize);
  const explainAt = new Set([1, Math.ceil(pages / 2), pages]);
  const times: number[] = [];
  for (let page = 1; page <= pages; page++) {
    const batch: ExternalGuest[] = [];
    for (let i = (page - 1) * pageSize; i < Math.min(guests, page * pageSize); i++) {
      batch.push({
        externalGuestId: `gst-${i}`,
        email: `guest${i}@example.com`,
        name: null,
        approvalStatus: 'approved',
        registeredAt: null,
      });
    }
    const checkpoint = {
      nextCursor: page < pages ? `c${page}` : null,
      pagesDone: page,
      externalEventId: 'evt-explain',
    };
    const { sql: text, params } = dialect.sqlToQuery(
      pageStatement(target, batch, new Date(), { fence: { claim, checkpoint } }),
    );
    if (explainAt.has(page)) {
      // The plan the page loop runs after its fifth page: the cached generic plan.
      const types = params.map((p) => (Array.isArray(p) ? 'text[]' : 'text'));
      const literal = (v: unknown): string =>
        Array.isArray(v) ? `ARRAY[${v.map(literal).join(',')}]::text[]` : `'${String(v).replaceAll("'", "''")}'`;
      await conn.unsafe('SET plan_cache_mode = force_generic_plan');
      await conn.unsafe(`PREPARE lgs_explain(${types.join(',')}) AS ${text}`);
      explaining = true;
      await conn.unsafe('SET auto_explain.log_min_duration = 0');
      const rows = await conn.unsafe(
        `EXPLAIN (ANALYZE, BUFFERS) EXECUTE lgs_explain(${params.map(literal).join(',')})`,
      );
      await conn.unsafe('RESET auto_explain.log_min_duration');
      explaining = false;
      await conn.unsafe('DEALLOCATE lgs_explain');
      await conn.unsafe('RESET plan_cache_mode');
      console.log(`\n=== page ${page} of ${pages}\n${rows.map((r) => r['QUERY PLAN']).join('\n')}`);
      continue;
    }
    const started = performance.now();
    await conn.unsafe(text, params as never[], { prepare: true });
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const q = (f: number) => times[Math.floor(f * (times.length - 1))]!.toFixed(2);
  console.log(
    `\npage statement ms: p10 ${q(0.1)}  p50 ${q(0.5)}  p90 ${q(0.9)}  max ${q(1)}  sum ${times.reduce((a, b) => a + b, 0).toFixed(0)}`,
  );
  await conn.end();
} finally {
  await bench.drop();
  await pg.stop();
}
