import { createDatabase } from '../../src/db/client.ts';
import { SIM_API_KEY } from '../../src/local/luma-simulator.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { type Figure, figure, median, time } from './harness.ts';
import { startRemoteDatabaseUrl } from './latency-proxy.ts';
import { referenceIndexes, referenceSync } from './reference-pipeline.ts';
import { benchEvent, benchSyncDeps, startSimulatedLuma } from './sync-env.ts';
import type { SyncBenchOptions } from './sync-scenarios.ts';

interface Side {
  ms: number;
  requests: number;
  statements: number;
  created: number;
}

/** Round trip to the database in the headline case: a directory database on the same network, in ms. */
const DATABASE_RTT_MS = 1;

/**
 * Scenario 9: the worker against the business flow's design (reference-pipeline.ts), on
 * the same members and the same simulated Luma lists, in the same run. The headline is the
 * database-bound first sync with the database DATABASE_RTT_MS away through a proxy, where
 * every statement pays a round trip as it does in production: the directory's database is
 * across a network, and a loopback server flatters the design that sends 8× the statements.
 * As context, the same on the loopback database, and an API-bound one (50 ms per page).
 * Each side counts the Luma requests (the simulator's own count) and the SQL statements it
 * sent; the round trip the proxy adds is measured too.
 */
export async function referenceComparison({ db, runs, quick }: SyncBenchOptions): Promise<Figure[]> {
  await referenceIndexes(db.sql);
  const dbBound = quick ? 10_000 : 50_000;
  const cases = [
    {
      label: `database-bound, ${dbBound / 1000}k guests, database ${DATABASE_RTT_MS} ms away`,
      guests: dbBound,
      latencyMs: 0,
      databaseRttMs: DATABASE_RTT_MS,
    },
    {
      label: `database-bound, ${dbBound / 1000}k guests, loopback database (context)`,
      guests: dbBound,
      latencyMs: 0,
      databaseRttMs: 0,
    },
    {
      label: `API-bound, ${quick ? 5 : 20}k guests, 50 ms/page`,
      guests: quick ? 5_000 : 20_000,
      latencyMs: 50,
      databaseRttMs: 0,
    },
  ];
  const figures: Figure[] = [];
  for (const { label, guests, latencyMs, databaseRttMs } of cases) {
    const luma = await startSimulatedLuma({ events: { 'evt-reference': { guestCount: guests } }, latencyMs });
    const remote = databaseRttMs > 0 ? await startRemoteDatabaseUrl(db.url, databaseRttMs) : undefined;
    const url = remote?.url ?? db.url;
    const worker: Side[] = [];
    const reference: Side[] = [];
    try {
      if (remote)
        figures.push(
          figure(
            `9. business-flow reference vs worker, ${label}`,
            'round trip the proxy adds (SELECT 1, measured)',
            'ms',
            [await addedRoundTripMs(db.url, remote.url)],
            reported,
          ),
        );
      for (let i = 0; i < Math.min(runs, 3); i++) {
        const forWorker = await benchEvent(db.sql, 'evt-reference');
        worker.push(
          await measure(url, luma, async (counted) => {
            const result = await syncEvent(benchSyncDeps(counted.db, luma.url), forWorker);
            return result.created;
          }),
        );
        const forReference = await benchEvent(db.sql, 'evt-reference');
        reference.push(
          await measure(url, luma, async (counted) => {
            const deps = { database: counted, lumaUrl: luma.url, apiKey: SIM_API_KEY };
            return (await referenceSync(deps, forReference)).created;
          }),
        );
      }
    } finally {
      await luma.stop();
      await remote?.stop();
    }
    const created = new Set([...worker, ...reference].map((side) => side.created));
    if (created.size !== 1) throw new Error(`the two pipelines created different rows: ${[...created].join(', ')}`);
    const name = `9. business-flow reference vs worker, ${label}`;
    const each = (pick: (s: Side) => number) => [worker.map(pick), reference.map(pick)] as const;
    const [workerMs, referenceMs] = each((s) => s.ms / 1000);
    const [workerRequests, referenceRequests] = each((s) => s.requests);
    const [workerStatements, referenceStatements] = each((s) => s.statements);
    const ratio = (a: number[], b: number[]) => a.map((v, k) => v / b[k]!);
    // The target stands on the headline: database-bound, the database a network away.
    const speedTarget = latencyMs === 0 && databaseRttMs > 0 ? { text: '>= 3', ok: (m: number) => m >= 3 } : reported;
    figures.push(
      figure(name, 'wall time, worker', 's', workerMs, reported),
      figure(name, 'wall time, reference', 's', referenceMs, reported),
      figure(name, 'wall time, reference / worker', 'ratio', ratio(referenceMs, workerMs), speedTarget),
      figure(name, 'Luma requests, worker', 'requests', workerRequests, reported),
      figure(name, 'Luma requests, reference / worker', 'ratio', ratio(referenceRequests, workerRequests), {
        text: '>= 2',
        ok: (m) => m >= 2,
      }),
      figure(name, 'SQL statements, worker', 'statements', workerStatements, reported),
      figure(name, 'SQL statements, reference', 'statements', referenceStatements, reported),
    );
  }
  return figures;
}

const reported = { text: 'reported', ok: () => true };

/** Median `SELECT 1` time through `remoteUrl` minus the same on `url`: what the proxy charges a statement. */
export async function addedRoundTripMs(url: string, remoteUrl: string): Promise<number> {
  const medianMs = async (at: string) => {
    const database = createDatabase({ url: at, poolMax: 1 });
    try {
      await database.sql`SELECT 1`;
      const times: number[] = [];
      for (let i = 0; i < 200; i++) times.push((await time(() => database.sql`SELECT 1`)).ms);
      return median(times);
    } finally {
      await database.close();
    }
  };
  return (await medianMs(remoteUrl)) - (await medianMs(url));
}

/** Runs one side's first sync on a pool of its own that counts the statements it sends. */
async function measure(
  url: string,
  luma: Awaited<ReturnType<typeof startSimulatedLuma>>,
  sync: (counted: ReturnType<typeof createDatabase>) => Promise<number>,
): Promise<Side> {
  let statements = 0;
  const counted = createDatabase({ url, poolMax: 4, onQuery: () => statements++ });
  try {
    await counted.sql`SELECT 1`;
    statements = 0;
    const requestsBefore = (await luma.stats()).requests;
    const { ms, value: created } = await time(() => sync(counted));
    return { ms, requests: (await luma.stats()).requests - requestsBefore, statements, created };
  } finally {
    await counted.close();
  }
}
