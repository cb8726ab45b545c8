/**
 * Where a first sync's wall time goes: `node test/bench/first-sync-timeline.ts [guests=50000]
 * [runs=3] [durable]` (through `sh .ci/node24.sh`). Scenario 1's setting (a throwaway embedded
 * PostgreSQL, the bench's 200,000 members, the simulated Luma in a process of its own);
 * each run measures the fetch and write floors, then a first sync of a new event, and
 * splits that sync's wall time as the wire sees it:
 *
 * - database busy: while at least one statement is out, from its Sync message written to its
 *   ReadyForQuery read (the backend's work plus its wait for a core);
 * - client gaps: while none is, from the last answer to the next statement sent, when the
 *   database has nothing to do and the worker is on the critical path.
 *
 * With the CPU time of the database's backends (/proc) and of this process over the same
 * sync. The timeline comes from the protocol messages on the process's sockets to the
 * database: a tool's instrument, never the worker's. Not part of `npm run bench`.
 * (Until 2026-12-07 it paired each first byte sent with the next byte read, which counted
 * the time a second statement out ran after the first's answer as a gap.)
 */

import net from 'node:net';
import { startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { timedWithDatabaseCpu } from './process-probe.ts';
import { seedBulkMembers } from './seed-bulk.ts';
import { benchEvent, benchSyncDeps, createBenchDatabase, startSimulatedLuma } from './sync-env.ts';
import { bulkInsertFloor } from './sync-scenarios.ts';

const guests = Number(process.argv[2] ?? 50_000);
const runs = Number(process.argv[3] ?? 3);
// `durable`: the database commits as a production one does (fsync, synchronous_commit,
// full_page_writes on), where the bench's throwaway one skips the flushes.
const durable = process.argv[4] === 'durable';

/**
 * The database's wire while `recording`, as [time, statements sent, statements answered]:
 * the client's Sync messages (each statement postgres.js sends ends with one) and the
 * server's ReadyForQuery, read from the message stream of every socket to the database.
 * Counting messages, not bytes, keeps the timeline true while the page writer has two
 * statements out at once: the database is busy from a statement's Sync to its
 * ReadyForQuery, whichever came before it.
 */
const wire: [number, number, number][] = [];
let recording = false;
let databasePort = 0;
/** Per socket and direction, the bytes of a message not yet complete. */
const partial = new WeakMap<net.Socket, { write: Buffer; read: Buffer }>();

/** Counts the messages of `type` completed by `chunk` on `socket`'s stream in `direction`. */
function countMessages(socket: net.Socket, direction: 'write' | 'read', chunk: Buffer, type: string): number {
  let streams = partial.get(socket);
  const opened = streams === undefined;
  streams ??= { write: Buffer.alloc(0), read: Buffer.alloc(0) };
  partial.set(socket, streams);
  let bytes = Buffer.concat([streams[direction], chunk]);
  // A connection opened while recording starts with its startup message, the one message
  // without a type byte (its first byte is its length's, 0): skipped.
  if (opened && direction === 'write' && bytes.length >= 8 && bytes[0] === 0) {
    bytes = bytes.subarray(Math.min(bytes.readInt32BE(0), bytes.length));
  }
  let count = 0;
  // A message: a type byte, then its length (which counts itself but not the type byte).
  while (bytes.length >= 5) {
    const length = bytes.readInt32BE(1);
    if (bytes.length < 1 + length) break;
    if (bytes[0] === type.charCodeAt(0)) count++;
    bytes = bytes.subarray(1 + length);
  }
  streams[direction] = Buffer.from(bytes);
  return count;
}

const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
  if (recording && this.remotePort === databasePort && Buffer.isBuffer(args[0])) {
    const sent = countMessages(this, 'write', args[0], 'S');
    if (sent > 0) wire.push([performance.now(), sent, 0]);
  }
  return (write as (...a: unknown[]) => boolean).apply(this, args);
} as typeof write;
const push = net.Socket.prototype.push;
net.Socket.prototype.push = function (this: net.Socket, ...args: unknown[]) {
  if (recording && this.remotePort === databasePort && Buffer.isBuffer(args[0])) {
    const answered = countMessages(this, 'read', args[0], 'Z');
    if (answered > 0) wire.push([performance.now(), 0, answered]);
  }
  return (push as (...a: unknown[]) => boolean).apply(this, args);
} as typeof push;

const pg = await startEmbeddedPostgres(
  durable ? { settings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } } : {},
);
const db = await createBenchDatabase(pg.url);
databasePort = Number(new URL(db.url).port);
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
    const floorCpu = await databaseCpuAround(() => bulkInsertFloor(db, guests));
    const message = await benchEvent(db.sql, 'evt-db-bound');
    const workerCpu = process.cpuUsage();
    wire.length = 0;
    recording = true;
    const syncCpu = await databaseCpuAround(() => syncEvent(deps, message));
    recording = false;
    const worker = process.cpuUsage(workerCpu);
    const { busy, gaps, statements } = databaseTimeline();
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

/** `work`'s wall time with the CPU time the bench database's backends spent meanwhile. */
async function databaseCpuAround(work: () => Promise<unknown>): Promise<{ value: number; cpu: number }> {
  const { ms, cpuMs } = await timedWithDatabaseCpu(db.sql, work);
  if (cpuMs === undefined) throw new Error('the database backends are not processes of this machine: no CPU times');
  return { value: ms, cpu: cpuMs };
}

/**
 * Over the recorded wire: the time at least one statement was out (the database busy, its
 * wait for a core included), the time none was between the first statement and the last
 * answer (the worker on the critical path), and the statements sent.
 */
function databaseTimeline() {
  let busy = 0;
  let gaps = 0;
  let statements = 0;
  let out = 0;
  let since: number | null = null;
  for (const [at, sent, answered] of wire) {
    if (since !== null) {
      if (out > 0) busy += at - since;
      else gaps += at - since;
    }
    since = at;
    statements += sent;
    out = Math.max(0, out + sent - answered);
  }
  return { busy, gaps, statements };
}

function ms(value: number): string {
  return `${Math.round(value)} ms`;
}

function percent(part: number, whole: number): string {
  return `${Math.round((part / whole) * 100)}%`;
}
