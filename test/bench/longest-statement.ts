/**
 * The longest statements a sync of a large event sends, for the statement_timeout a DBA
 * may set on the worker's role (docs/security.md, "Role settings"):
 * `sh .ci/node24.sh node test/bench/longest-statement.ts [guests=50000] [runs=2] [statement_timeout]`.
 * With a statement_timeout (e.g. 1s), the bench database carries it (ALTER DATABASE, as
 * a role setting would), so every sync shows it completes under that limit.
 *
 * Scenario 1's setting (a throwaway embedded PostgreSQL, the bench's 200,000 members, the
 * simulated Luma in a process of its own, pages of 100), plus what the finish works on:
 * 1,000 stale synced rows for stale removal (on, any share), an active push config and a
 * sent notification of the gathering for the push refresh. Each run syncs a new event
 * twice: a first sync (every page inserts) and a second (nothing to add; removal and the
 * refresh over all its rows). A statement lasts from its first byte written to the
 * database's socket to the first byte of its answer, per connection (the sync's own,
 * the claim's renewals, the Luma budget's), so it includes the wait for a core. Not part
 * of `npm run bench`.
 */

import net from 'node:net';
import { createDatabase } from '../../src/db/client.ts';
import { startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { seedBulkMembers } from './seed-bulk.ts';
import { benchEvent, benchSyncDeps, createBenchDatabase, startSimulatedLuma } from './sync-env.ts';

const guests = Number(process.argv[2] ?? 50_000);
const runs = Number(process.argv[3] ?? 2);
const statementTimeout = process.argv[4];
const STALE_ROWS = 1_000;

/** Socket writes and reads while recording: [time, kind, local port, remote port]. */
const wire: [number, 'write' | 'read', number, number][] = [];
/** The statement text each send carried (postgres.js's debug hook runs just before its write). */
const sent: [number, string][] = [];
let recording = false;
const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
  if (recording) wire.push([performance.now(), 'write', this.localPort ?? 0, this.remotePort ?? 0]);
  return (write as (...a: unknown[]) => boolean).apply(this, args);
} as typeof write;
const push = net.Socket.prototype.push;
net.Socket.prototype.push = function (this: net.Socket, ...args: unknown[]) {
  if (recording && args[0] !== null) wire.push([performance.now(), 'read', this.localPort ?? 0, this.remotePort ?? 0]);
  return (push as (...a: unknown[]) => boolean).apply(this, args);
} as typeof push;

const pg = await startEmbeddedPostgres();
const bench = await createBenchDatabase(pg.url);
const port = Number(new URL(bench.url).port);
if (statementTimeout) {
  // Before the handle below opens its connections: a database setting applies at session start.
  const name = new URL(bench.url).pathname.slice(1);
  await bench.sql.unsafe(`ALTER DATABASE "${name}" SET statement_timeout = '${statementTimeout.replace(/'/g, '')}'`);
}
const labelled = createDatabase({
  url: bench.url,
  poolMax: 4,
  onQuery: (query) => {
    if (recording) sent.push([performance.now(), label(query)]);
  },
});
const luma = await startSimulatedLuma({ events: { 'evt-role': { guestCount: guests } } });
try {
  await seedBulkMembers(bench.sql, 200_000);
  await bench.sql`INSERT INTO "IrlGatheringPushConfig" (uid, "isActive", enabled, "minAttendeesPerEvent", "upcomingWindowDays", "updatedAt")
    VALUES ('bench-push', true, true, 1, 30, now())`;
  await bench.sql`INSERT INTO "PushNotification" (uid, category, title, "isSent", "sentAt", metadata, "updatedAt")
    VALUES ('bench-sent', 'IRL_GATHERING', 'sent', true, now(),
      '{"version": 1, "ruleKind": "UPCOMING", "gatheringUid": "bench-loc", "attendees": {"total": 0}}', now())`;
  const limit = statementTimeout ? `, statement_timeout ${statementTimeout}` : '';
  console.log(
    `longest statements of syncs of ${guests} guests among 200,000 members (${STALE_ROWS} stale rows), ${runs} runs${limit}`,
  );
  let longest = 0;
  for (let run = 1; run <= runs; run++) {
    const message = await benchEvent(bench.sql, 'evt-role');
    await bench.sql`
      INSERT INTO "PLEventGuest" (uid, "eventUid", "locationUid", "memberUid", "externalGuestId", "updatedAt")
      SELECT 'stale-' || ${message.eventUid} || '-' || i, ${message.eventUid}, 'bench-loc', 'bench-m-' || (150000 + i),
        'stale-' || i, now()
      FROM generate_series(0, ${STALE_ROWS - 1}) AS i`;
    const deps = {
      ...benchSyncDeps(labelled.db, luma.url),
      removeStale: { enabled: true, maxShare: 1 },
    };
    for (const which of ['first sync', 'second sync']) {
      wire.length = 0;
      sent.length = 0;
      recording = true;
      const started = performance.now();
      const result = await syncEvent(deps, message);
      recording = false;
      const wall = performance.now() - started;
      const statements = statementsOf(port);
      const top = [...statements].sort((a, b) => b.ms - a.ms).slice(0, 4);
      longest = Math.max(longest, top[0]?.ms ?? 0);
      console.log(
        `run ${run}, ${which}: ${Math.round(wall)} ms, ${result.pages} pages, created ${result.created}, removed ${result.removed}, ${statements.length} statements; longest: ${top.map((s) => `${Math.round(s.ms)} ms ${s.label}`).join('; ')}`,
      );
    }
  }
  console.log(`longest statement of all runs: ${Math.round(longest)} ms`);
} finally {
  await labelled.close();
  await luma.stop();
  await bench.drop();
  await pg.stop();
}

/** Each statement's time on the wire, per connection: first write after an answer to the next read. */
function statementsOf(databasePort: number): Array<{ ms: number; label: string }> {
  const open = new Map<number, number>();
  const statements: Array<{ ms: number; label: string }> = [];
  for (const [at, kind, local, remote] of wire) {
    if (remote !== databasePort) continue;
    const since = open.get(local);
    if (kind === 'write' && since === undefined) open.set(local, at);
    else if (kind === 'read' && since !== undefined) {
      statements.push({ ms: at - since, label: labelAt(since) });
      open.delete(local);
    }
  }
  return statements;
}

/** The statement sent last before `at`. */
function labelAt(at: number): string {
  let found = '?';
  for (const [time, text] of sent) {
    if (time > at) break;
    found = text;
  }
  return found;
}

function label(query: string): string {
  const text = query.replace(/\s+/g, ' ').trim();
  if (text.includes('INSERT INTO "PLEventGuest"')) return '(page statement)';
  if (text.includes('DELETE FROM "PLEventGuest" g USING')) return '(stale removal)';
  if (text.includes('UPDATE "PLEvent" SET "guestLastSyncedAt"')) return '(guestLastSyncedAt)';
  return `(${text.slice(0, 70)}…)`;
}
