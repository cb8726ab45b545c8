import { createDatabase, type Database } from '../../src/db/client.ts';
import { createRateLimiter } from '../../src/providers/rate-limit.ts';
import { createSharedBudget } from '../../src/providers/shared-budget.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { startCpuLoad } from './cpu-load.ts';
import { FIRST_SYNC_CASES, type FirstSyncCase, timeFirstSyncCase } from './first-sync-cases.ts';
import { type Figure, figure, time } from './harness.ts';
import { timedWithDatabaseCpu } from './process-probe.ts';
import { shareAtLuma, shareOfChains } from './share.ts';
import { benchEvent, benchSyncDeps, startSimulatedLuma } from './sync-env.ts';

export interface SyncBenchOptions {
  db: Database & { url: string };
  runs: number;
  quick: boolean;
}

/**
 * Scenario 1: database-bound sync against its floors, the re-sync, and first syncs into a
 * guest table whose statistics say it is empty or small (first-sync-cases.ts).
 */
export async function databaseBound({ db, runs, quick }: SyncBenchOptions): Promise<Figure[]> {
  const guests = quick ? 10_000 : 50_000;
  const luma = await startSimulatedLuma({ events: { 'evt-db-bound': { guestCount: guests } } });
  const rates: number[] = [];
  const ratios: number[] = [];
  const ratiosToFloorBefore: number[] = [];
  const resync: number[] = [];
  const floors = { fetch: [] as number[], write: [] as number[], first: [] as number[] };
  // The database's own CPU time for the first sync and for the write floor: the sync's
  // statements run one after another in one backend, so their ratio bounds the wall-time
  // ratio from below whatever the client does (docs/performance.md, section 1).
  const databaseCpuRatios: number[] = [];
  const cases = Object.keys(FIRST_SYNC_CASES) as FirstSyncCase[];
  const caseRatios = new Map<FirstSyncCase, number[]>(cases.map((c) => [c, []]));
  let cold: FirstSyncRun;
  try {
    // The first round of a fresh process and database is cold: the worker's and the
    // simulator's code not yet optimised, the matching's indexes not yet in the database's
    // buffers (the write floor reads "Member" by a sequential scan, the sync by its
    // normalised-email index), each connection's statements and functions not yet planned.
    // It measured 1.3–1.7 where the rounds after it measured 1.0–1.4 (2026-12-06, section 1).
    // A worker is a long-running process whose first sync of the day is rarely its first
    // ever, so the rounds measured are the warm ones; the cold round is reported beside them.
    cold = await firstSyncRun(db, luma.url, guests);
    for (let i = 0; i < runs; i++) {
      const run = await firstSyncRun(db, luma.url, guests);
      if (run.databaseCpuRatio !== undefined) databaseCpuRatios.push(run.databaseCpuRatio);
      rates.push(guests / (run.firstMs / 1000));
      ratios.push(run.ratio);
      ratiosToFloorBefore.push(run.ratioToFloorBefore);
      floors.fetch.push(run.fetchFloorMs / 1000);
      floors.write.push(run.writeFloorMs / 1000);
      floors.first.push(run.firstMs / 1000);
      resync.push(guests / (run.againMs / 1000));
      for (const name of cases) {
        const ms = await timeFirstSyncCase(db, luma.url, 'evt-db-bound', name);
        caseRatios.get(name)!.push(ms / run.firstMs);
      }
    }
  } finally {
    await luma.stop();
  }
  const name = `1. database-bound sync, ${guests / 1000}k guests`;
  return [
    figure(name, 'first sync', 'guests/s', rates, { text: '>= 10000', ok: (m) => m >= 10_000 }),
    figure(name, 'first sync / max(fetch floor, write floor)', 'ratio', ratios, {
      text: '<= 1.25',
      ok: (m) => m <= 1.25,
    }),
    figure(
      name,
      'first sync / max(fetch floor, write floor before the sync alone) (context: the measure until 2026-12-07)',
      'ratio',
      ratiosToFloorBefore,
      reported,
    ),
    figure(name, 'first sync, wall time (context)', 's', floors.first, reported),
    figure(
      name,
      'first sync / max(fetch floor, write floor), cold: the first round in a fresh process and database (context)',
      'ratio',
      [cold.ratio],
      reported,
    ),
    ...(databaseCpuRatios.length > 0
      ? [
          figure(
            name,
            "first sync / write floor, the database backends' CPU time (context: the bound one connection per sync sets)",
            'ratio',
            databaseCpuRatios,
            reported,
          ),
        ]
      : []),
    figure(name, 'fetch floor: the same pages, no database work (context)', 's', floors.fetch, reported),
    figure(
      name,
      'write floor: the same rows, one bulk INSERT, mean of before and after the sync (context)',
      's',
      floors.write,
      reported,
    ),
    figure(name, 're-sync, nothing new', 'guests/s', resync, { text: '>= 20000', ok: (m) => m >= 20_000 }),
    ...cases.map((c) =>
      figure(name, `first sync, ${c} / normal first sync`, 'ratio', caseRatios.get(c)!, {
        text: '<= 1.5',
        ok: (m) => m <= 1.5,
      }),
    ),
  ];
}

interface FirstSyncRun {
  fetchFloorMs: number;
  writeFloorMs: number;
  firstMs: number;
  /** The first sync against max(fetch floor, write floor). */
  ratio: number;
  /** The same against the write floor taken before the sync alone (scenario 1's measure until 2026-12-07). */
  ratioToFloorBefore: number;
  /** The re-sync of the same event, nothing new. */
  againMs: number;
  /** The backends' CPU time for the first sync against the write floor's; undefined when /proc cannot tell. */
  databaseCpuRatio?: number;
}

/**
 * One round of scenario 1: both floors, then a first sync of a new event and its re-sync.
 *
 * The write floor is measured twice, just before the first sync and just after it, and the
 * sync is set against their mean. On this machine one process's speed drifts by up to 1.6×
 * within seconds (docs/performance.md, section 1), and every write grows "PLEventGuest",
 * which makes the next write dearer: a floor taken only before the sync ran at another speed
 * and into a smaller table than the sync. Their mean is taken at the sync's midpoint, on
 * the table size the sync saw, and cancels a steady drift and the table's growth.
 */
async function firstSyncRun(db: SyncBenchOptions['db'], lumaUrl: string, guests: number): Promise<FirstSyncRun> {
  const deps = benchSyncDeps(db.db, lumaUrl);
  const fetchFloor = await time(() =>
    deps.providers.LUMA!.fetchGuestsInBatches(async () => {}, { eventUid: 'floor', externalEventId: 'evt-db-bound' }),
  );
  const floorBefore = await timedWithDatabaseCpu(db.sql, () => bulkInsertFloor(db, guests));
  const message = await benchEvent(db.sql, 'evt-db-bound');
  const first = await timedWithDatabaseCpu(db.sql, () => syncEvent(deps, message));
  const floorAfter = await timedWithDatabaseCpu(db.sql, () => bulkInsertFloor(db, guests));
  const writeFloorMs = (floorBefore.ms + floorAfter.ms) / 2;
  let databaseCpuRatio: number | undefined;
  if (floorBefore.cpuMs !== undefined && floorAfter.cpuMs !== undefined && first.cpuMs !== undefined) {
    const floorCpu = (floorBefore.cpuMs + floorAfter.cpuMs) / 2;
    if (floorCpu > 0) databaseCpuRatio = first.cpuMs / floorCpu;
  }
  const again = await time(() => syncEvent(deps, message));
  return {
    fetchFloorMs: fetchFloor.ms,
    writeFloorMs,
    firstMs: first.ms,
    ratio: first.ms / Math.max(fetchFloor.ms, writeFloorMs),
    ratioToFloorBefore: first.ms / Math.max(fetchFloor.ms, floorBefore.ms),
    againMs: again.ms,
    ...(databaseCpuRatio === undefined ? {} : { databaseCpuRatio }),
  };
}

/** The write floor: the same rows a sync adds, inserted by one bulk statement. */
export async function bulkInsertFloor(db: Database, guests: number): Promise<void> {
  const floorEvent = await benchEvent(db.sql, 'evt-floor');
  const { text, params } = writeFloorStatement(floorEvent.eventUid, guests);
  await db.sql.unsafe(text, params);
}

/**
 * The write floor's statement: the rows a first sync of simulated guests 0 to `guests - 1`
 * adds to `eventUid`, members matched and main teams found by one join, in one INSERT.
 * Also run by test/bench/page-cost.ts.
 */
export function writeFloorStatement(eventUid: string, guests: number): { text: string; params: [string, number] } {
  return {
    text: `INSERT INTO "PLEventGuest" (uid, "eventUid", "locationUid", "memberUid", "teamUid", "externalGuestId", "updatedAt")
      SELECT md5(random()::text), $1, 'bench-loc', m.uid, r."teamUid", 'gst-' || g, now()
      FROM generate_series(0, $2::int - 1) AS g
      JOIN "Member" m ON lower(btrim(m.email)) = 'guest' || g || '@example.com'
      LEFT JOIN "TeamMemberRole" r ON r."memberUid" = m.uid AND r."mainTeam"`,
    params: [eventUid, guests],
  };
}

/** Scenario 2: SQL statements a page costs, first sync and re-sync, at page size 10 and 100. */
export async function statementsPerPage({ db }: SyncBenchOptions): Promise<Figure[]> {
  const guests = 2_000;
  const luma = await startSimulatedLuma({ events: { 'evt-count': { guestCount: guests } } });
  // `alone`: a statement per page (statementGuests 1), what a page costs; `together`: as a
  // sync runs, the pages read while a statement runs sent together (page-writer.ts).
  const counts: Record<string, { statements: number; pages: number }> = {};
  try {
    for (const way of ['alone', 'together']) {
      for (const pageSize of [10, 100]) {
        const message = await benchEvent(db.sql, 'evt-count');
        for (const pass of ['first', 'resync']) {
          let statements = 0;
          const counted = createDatabase({ url: db.url, poolMax: 1, onQuery: () => statements++ });
          await counted.sql`SELECT 1`;
          statements = 0;
          const deps = benchSyncDeps(counted.db, luma.url, { pageSize });
          const statementGuests = way === 'alone' ? 1 : undefined;
          const result = await syncEvent({ ...deps, statementGuests }, message);
          counts[`${way}-${pass}-${pageSize}`] = { statements, pages: result.pages };
          await counted.close();
        }
      }
    }
  } finally {
    await luma.stop();
  }
  // The fixed cost (event lookup, post-sync) cancels out in the difference of two runs.
  const perPage = (way: string, pass: string) => {
    const small = counts[`${way}-${pass}-10`]!;
    const large = counts[`${way}-${pass}-100`]!;
    return (small.statements - large.statements) / (small.pages - large.pages);
  };
  const name = '2. statements per page (sizes 10 and 100)';
  return ['first', 'resync'].flatMap((pass) => {
    const label = pass === 'first' ? 'first sync' : 're-sync';
    return [
      figure(name, `${label}, a page per statement`, 'statements/page', [perPage('alone', pass)], {
        text: '<= 3, constant',
        ok: (m) => m <= 3 && Number.isInteger(m),
      }),
      figure(name, `${label}, pages read meanwhile sent together`, 'statements/page', [perPage('together', pass)], {
        text: '<= 1',
        ok: (m) => m <= 1,
      }),
    ];
  });
}

/**
 * Scenario 3: API-bound sync; the database work hides behind the next page's fetch. The
 * floor is measured in the same run: the same pages fetched from the same simulator with
 * no database work. pages x latency is the ideal, reported beside it.
 */
export async function apiBound({ db, runs, quick }: SyncBenchOptions): Promise<Figure[]> {
  const guests = quick ? 5_000 : 20_000;
  const latencyMs = 50;
  const luma = await startSimulatedLuma({ events: { 'evt-api-bound': { guestCount: guests } }, latencyMs });
  const toFloor: number[] = [];
  const toIdeal: number[] = [];
  try {
    for (let i = 0; i < Math.min(runs, 3); i++) {
      const deps = benchSyncDeps(db.db, luma.url);
      const floor = await time(() =>
        deps.providers.LUMA!.fetchGuestsInBatches(async () => {}, {
          eventUid: 'floor',
          externalEventId: 'evt-api-bound',
        }),
      );
      const message = await benchEvent(db.sql, 'evt-api-bound');
      const { ms, value } = await time(() => syncEvent(deps, message));
      toFloor.push(ms / floor.ms);
      toIdeal.push(ms / (value.pages * latencyMs));
    }
  } finally {
    await luma.stop();
  }
  const name = `3. API-bound sync, ${guests / 1000}k guests, ${latencyMs} ms/page`;
  return [
    figure(name, 'wall time / fetch floor (measured: the same pages, no database work)', 'ratio', toFloor, {
      text: '<= 1.10',
      ok: (m) => m <= 1.1,
    }),
    figure(name, 'wall time / (pages x latency) (computed)', 'ratio', toIdeal, { text: 'reported', ok: () => true }),
  ];
}

/**
 * Scenario 4: the client-side budget keeps Luma from ever answering 429, and uses the
 * budget: one process's budget, and the database-shared one split over three replicas
 * (separate pools), the budget-share figure the load tests used to assert. Every case
 * runs twice: as the machine is, and with CPU_LOAD_PROCESSES processes spinning on
 * purpose, because production workers share throttled nodes and a budget that holds only
 * on a free CPU is not a budget.
 */
export async function rateLimit(options: SyncBenchOptions): Promise<Figure[]> {
  const figures = await rateLimitCases(options, '');
  const load = await startCpuLoad(CPU_LOAD_PROCESSES);
  try {
    figures.push(...(await rateLimitCases(options, `, CPU loaded by ${CPU_LOAD_PROCESSES} spinning processes`)));
  } finally {
    await load.stop();
  }
  return figures;
}

const reported = { text: 'reported', ok: () => true };

/** Busy processes of the loaded cases: as many as the machines here have cores. */
const CPU_LOAD_PROCESSES = 2;

async function rateLimitCases({ db, runs, quick }: SyncBenchOptions, loaded: string): Promise<Figure[]> {
  // Luma's 200 per minute, scaled down in time: 20 requests per 2 s window.
  const budget = 20;
  const windowMs = 2_000;
  const windows = quick ? 2 : 3;
  const figures: Figure[] = [];
  const cases = [
    { events: 1, replicas: 0 },
    { events: 20, replicas: 0 },
    { events: 20, replicas: 3 },
  ];
  for (const { events, replicas } of cases) {
    // Exactly `windows` windows' worth of requests, spread over the events.
    const pagesPerEvent = (budget * windows) / events;
    const list = { guestCount: Math.round(pagesPerEvent * 100) };
    const ids = Array.from({ length: events }, (_, i) => `evt-rate-${i}`);
    const achieved: number[] = [];
    const firstToLast: number[] = [];
    const wholeRun: number[] = [];
    const limited: number[] = [];
    for (let i = 0; i < Math.min(runs, 3); i++) {
      const luma = await startSimulatedLuma({
        events: Object.fromEntries(ids.map((id) => [id, list])),
        rateLimit: { requests: budget, windowMs },
        recordArrivals: true,
      });
      const pools = Array.from({ length: replicas }, () => createDatabase({ url: db.url, poolMax: 2 }));
      const key = `bench-rate-${process.pid}-${i}-${events}`;
      // Each event's sync runs on one replica, round robin; all replicas share one key.
      const limiterOf = (n: number) =>
        pools.length === 0
          ? processLimiter
          : createSharedBudget({ sql: pools[n % pools.length]!.sql, key, perMinute: budget, windowMs });
      const processLimiter = createRateLimiter({ perMinute: budget, windowMs });
      const messages = await Promise.all(ids.map((id) => benchEvent(db.sql, id)));
      const { ms } = await time(() =>
        Promise.all(messages.map((m, n) => syncEvent(benchSyncDeps(db.db, luma.url, { limiter: limiterOf(n) }), m))),
      );
      // Measured where Luma counts, from its arrivals (share.ts): the budget's own figure
      // (each request against the one a full window before it), and the older first-to-last
      // figure, which also charges the syncs' own pace inside the last window. The whole
      // run's time also holds the last pages' writes after the last request, work the
      // budget does not govern, that on a loaded CPU took up to 1.2 s: reported.
      const stats = await luma.stats();
      const arrivals = stats.arrivals ?? [];
      achieved.push(shareOfChains(arrivals, budget, windowMs));
      firstToLast.push(shareAtLuma(arrivals, budget, windowMs));
      wholeRun.push(stats.requests / (ms / windowMs + 1) / budget);
      limited.push(stats.rateLimited);
      await Promise.all(pools.map((p) => p.close()));
      await luma.stop();
    }
    const where = replicas ? `, ${replicas} replicas sharing the database budget` : '';
    const name = `4. rate limit, ${events} event${events > 1 ? 's' : ''} at once${where}${loaded} (${budget} req / ${windowMs / 1000} s)`;
    figures.push(
      figure(name, '429 answers', 'count', limited, { text: '0, every run', ok: () => limited.every((n) => n === 0) }),
      figure(name, 'requests per window / budget, at Luma (each against the one a window before)', 'share', achieved, {
        text: '>= 0.90, every run',
        ok: () => achieved.every((v) => v >= 0.9),
      }),
      figure(name, 'requests per window / budget, at Luma, first to last arrival', 'share', firstToLast, {
        text: 'reported',
        ok: () => true,
      }),
      figure(name, 'requests per window / budget, whole run (with the last writes)', 'share', wholeRun, {
        text: 'reported',
        ok: () => true,
      }),
    );
  }
  return figures;
}

/** Scenario 6: time per guest stays flat as the list grows. */
export async function scaling({ db, runs, quick }: SyncBenchOptions): Promise<Figure[]> {
  const sizes = quick ? [1_000, 10_000, 20_000] : [1_000, 10_000, 100_000];
  const luma = await startSimulatedLuma({
    events: Object.fromEntries(sizes.map((n) => [`evt-scale-${n}`, { guestCount: n }])),
  });
  const perGuest: Record<number, number[]> = {};
  try {
    for (let i = 0; i < Math.min(runs, 3); i++) {
      for (const n of sizes) {
        const message = await benchEvent(db.sql, `evt-scale-${n}`);
        const { ms } = await time(() => syncEvent(benchSyncDeps(db.db, luma.url), message));
        perGuest[n] = [...(perGuest[n] ?? []), (ms * 1000) / n];
      }
    }
  } finally {
    await luma.stop();
  }
  const [, mid, top] = sizes as [number, number, number];
  const ratios = perGuest[top]!.map((v, i) => v / perGuest[mid]![i]!);
  const name = '6. scaling';
  return [
    ...sizes.map((n) =>
      figure(name, `time per guest at ${n / 1000}k`, 'µs/guest', perGuest[n]!, { text: 'reported', ok: () => true }),
    ),
    figure(name, `${top / 1000}k per-guest time / ${mid / 1000}k per-guest time`, 'ratio', ratios, {
      text: '<= 1.5',
      ok: (m) => m <= 1.5,
    }),
  ];
}
