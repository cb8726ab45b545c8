/**
 * A/B of the sync pipeline against another checkout, in one process, rounds interleaved
 * (ABBA): the same embedded PostgreSQL with the bench's 200,000 members, the same
 * simulated Luma process and, with a round trip, the same latency proxy. Only `syncEvent`
 * differs: the other checkout's, given this checkout's provider and database handle. On
 * a shared machine two separate bench runs differ by more than most changes; interleaved
 * rounds in one process do not.
 *
 *   git worktree add /tmp/before <commit> && ln -s "$PWD/node_modules" /tmp/before/
 *   sh .ci/node24.sh node test/bench/ab-sync.ts /tmp/before [rtt ms, 1] [rounds, 4] [guests, 50000]
 *
 * Prints each round's wall time and the medians, as JSON on the last line.
 */
import path from 'node:path';
import { createDatabase } from '../../src/db/client.ts';
import { startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import { type SyncDeps, syncEvent } from '../../src/sync/sync-event.ts';
import type { SyncMessage, SyncResult } from '../../src/sync/types.ts';
import { median } from './harness.ts';
import { startRemoteDatabaseUrl } from './latency-proxy.ts';
import { seedBulkMembers } from './seed-bulk.ts';
import { benchEvent, benchSyncDeps, createBenchDatabase, startSimulatedLuma } from './sync-env.ts';

type Sync = (deps: SyncDeps, message: SyncMessage) => Promise<SyncResult>;

const [other, rttArg = '1', roundsArg = '4', guestsArg = '50000'] = process.argv.slice(2);
if (!other) {
  console.error('usage: ab-sync.ts <other checkout> [rtt ms] [rounds] [guests]');
  process.exit(2);
}
const rtt = Number(rttArg);
const rounds = Number(roundsArg);
const guests = Number(guestsArg);
const before = (await import(path.resolve(other, 'src/sync/sync-event.ts'))) as { syncEvent: Sync };

const postgres = await startEmbeddedPostgres();
const db = await createBenchDatabase(postgres.url, {});
console.error('seeding 200000 members…');
await seedBulkMembers(db.sql, 200_000);
const luma = await startSimulatedLuma({ events: { 'evt-ab': { guestCount: guests } }, latencyMs: 0 });
const remote = rtt > 0 ? await startRemoteDatabaseUrl(db.url, rtt) : undefined;
const sides: Array<[name: 'before' | 'after', sync: Sync]> = [
  ['before', before.syncEvent],
  ['after', syncEvent],
];
const wall: Record<'before' | 'after', number[]> = { before: [], after: [] };
try {
  for (let round = 0; round < rounds; round++) {
    for (const [name, sync] of round % 2 === 0 ? sides : [...sides].reverse()) {
      const message = await benchEvent(db.sql, 'evt-ab');
      const handle = createDatabase({ url: remote?.url ?? db.url, poolMax: 4 });
      await handle.sql`SELECT 1`;
      const started = performance.now();
      const result = await sync(benchSyncDeps(handle.db, luma.url), message);
      wall[name].push(Math.round(performance.now() - started));
      await handle.close();
      console.error(`${name} round ${round + 1}: ${wall[name].at(-1)} ms, ${result.created} created`);
    }
  }
  console.log(
    JSON.stringify({
      rttMs: rtt,
      guests,
      wallMs: wall,
      medianMs: { before: median(wall.before), after: median(wall.after) },
    }),
  );
} finally {
  await luma.stop();
  await remote?.stop();
  await db.close();
  await postgres.stop();
}
process.exit(0);
