/**
 * Where a first sync's wall time goes: `node test/bench/first-sync-timeline.ts [guests=50000]
 * [runs=3] [durable]` (through `sh .ci/node24.sh`). Scenario 1's setting (a throwaway embedded
 * PostgreSQL, the bench's 200,000 members, the simulated Luma in a process of its own);
 * each run measures the fetch and write floors, then a first sync of a new event, and
 * splits that sync's wall time as the wire sees it:
 *
 * - database busy: from each statement's first byte written to the database's socket to the
 *   first byte of its answer (the backend's work plus its wait for a core);
 * - client gaps: from one answer to the next statement sent, when the database has nothing
 *   to do and the worker is on the critical path (what pipelining statements could hide).
 *
 * With the CPU time of the database's backends (/proc) and of this process over the same
 * sync. The timeline comes from the writes and reads of the process's sockets, by port: a
 * tool's instrument, never the worker's. Not part of `npm run bench`.
 */

import net from 'node:net';
import { startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { databaseCpuMs, databaseCpuSpent } from './process-probe.ts';
import { seedBulkMembers } from './seed-bulk.ts';
import { benchEvent, benchSyncDeps, createBenchDatabase, startSimulatedLuma } from './sync-env.ts';
import { bulkInsertFloor } from './sync-scenarios.ts';

const guests = Number(process.argv[2] ?? 50_000);
const runs = Number(process.argv[3] ?? 3);
// `durable`: the database commits as a production one does (fsync, synchronous_commit,
// full_page_writes on), where the bench's throwaway one skips the flushes.
const durable = process.argv[4] === 'durable';

/** Socket writes and reads while `recording`, as [time, 'write' | 'read', remote port]. */
const wire: [number, 'write' | 'read', number][] = [];
let recording = false;
const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
  if (recording) wire.push([performance.now(), 'write', this.remotePort ?? 0]);
  return (write as (...a: unknown[]) => boolean).apply(this, args);
} as typeof write;
const push = net.Socket.prototype.push;
net.Socket.prototype.push = function (this: net.Socket, ...args: unknown[]) {
  if (recording && args[0] !== null) wire.push([performance.now(), 'read', this.remotePort ?? 0]);
  return (push as (...a: unknown[]) => boolean).apply(this, args);
} as typeof push;

const pg = await startEmbeddedPostgres(
  durable ? { settings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } } : {},
);
const db = await createBenchDatabase(pg.url);
const databasePort = Number(new URL(db.url).port);
const luma = await startSimulatedLuma({ events: { 'evt-db-bound': { guestCount: guests } } });
try {
  await seedBulkMembers(db.sql, 200_000);
  console.log(
    `first sync of ${guests} guests among 200,000 members, ${runs} runs (ms)${durable ? ', durable database' : ''}`,
  );
  for (let run = 1; run <= runs; run++) {
    const deps = benchSyncDeps(db.db, luma.url);
    const fetchFloor = await timed(() =>
      deps.providers.LUMA!.fetchGuestsInBatches(async () => {}, { eventUid: 'floor', externalEventId: 'evt-db-bound' }),
    );
    const floorCpu = await databaseCpuAround(() => timed(() => bulkInsertFloor(db, guests)));
    const message = await benchEvent(db.sql, 'evt-db-bound');
    const workerCpu = process.cpuUsage();
    wire.length = 0;
    recording = true;
    const syncCpu = await databaseCpuAround(() => timed(() => syncEvent(deps, message)));
    recording = false;
    const worker = process.cpuUsage(workerCpu);
    const { busy, gaps, statements } = databaseTimeline(databasePort);
    const first = syncCpu.value;
    console.log(
      [
        `run ${run}: first sync ${ms(first)}, fetch floor ${ms(fetchFloor)}, write floor ${ms(floorCpu.value)}`,
        `ratio ${(first / Math.max(fetchFloor, floorCpu.value)).toFixed(2)}`,
        `database busy ${ms(busy)} (${percent(busy, first)}), client gaps ${ms(gaps)} (${percent(gaps, first)}) over ${statements} statements`,
        `backend CPU ${ms(syncCpu.cpu)} = ${(syncCpu.cpu / floorCpu.cpu).toFixed(2)}x the write floor's ${ms(floorCpu.cpu)}`,
        `worker CPU ${ms((worker.user + worker.system) / 1000)}`,
      ].join('; '),
    );
  }
} finally {
  await luma.stop();
  await db.drop();
  await pg.stop();
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

/** `work`'s result with the CPU time the bench database's backends spent meanwhile. */
async function databaseCpuAround(work: () => Promise<number>): Promise<{ value: number; cpu: number }> {
  const before = await databaseCpuMs(db.sql);
  const value = await work();
  const after = await databaseCpuMs(db.sql);
  if (!before || !after) throw new Error('the database backends are not processes of this machine: no CPU times');
  return { value, cpu: databaseCpuSpent(before, after) };
}

/** Sums, over the recorded database traffic, the time answers were awaited and the gaps between. */
function databaseTimeline(port: number) {
  let busy = 0;
  let gaps = 0;
  let statements = 0;
  let sentAt: number | null = null;
  let answeredAt: number | null = null;
  for (const [at, kind, remote] of wire) {
    if (remote !== port) continue;
    if (kind === 'write' && sentAt === null) {
      if (answeredAt !== null) gaps += at - answeredAt;
      sentAt = at;
      statements++;
    } else if (kind === 'read' && sentAt !== null) {
      busy += at - sentAt;
      sentAt = null;
      answeredAt = at;
    }
  }
  return { busy, gaps, statements };
}

function ms(value: number): string {
  return `${Math.round(value)} ms`;
}

function percent(part: number, whole: number): string {
  return `${Math.round((part / whole) * 100)}%`;
}
