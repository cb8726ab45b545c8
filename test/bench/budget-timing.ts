/**
 * Where the time goes in scenario 4: 20 events at once against the simulated Luma (another
 * process), through one process's budget or the database budget shared by 3 replicas, as
 * the machine is and with spinning processes loading the CPU.
 *
 *   node test/bench/budget-timing.ts [--runs 3] [--budget process|replicas] [--spinners 2] [--events 20]
 *
 * A budget that uses its whole window lets request k + B (B = the budget) reach Luma
 * exactly one window after request k. Every chained pair loses
 *
 *   a[k+B] - a[k] - W = (e[k] - a[k]) + (g[k+B] - e[k] - W) + (a[k+B] - g[k+B])
 *
 * with a = arrivals at Luma, e = ends as the budget stamped them, g = grants, each sorted
 * (the k-th slot freed is the k-th end). The three terms, printed per run as p50/p90/max:
 *   answerMs   arrival → the end the budget counts (Luma's answer, the client's event loop,
 *              and for the shared budget the end's trip to the database);
 *   idleMs     a slot free (end + W) → its next grant (timers, polling, round trips);
 *   sendMs     grant → arrival (result's trip back, event loop, HTTP client, Luma's scheduling).
 * Times are the machine's wall clock in every process (the embedded database is local).
 * For the shared budget, doneMs (arrival → the client's done()) splits answerMs, and
 * grantedMs (the slot's start → acquire() resolving in the client) splits sendMs.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createDatabase } from '../../src/db/client.ts';
import { startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import { createRateLimiter, type RequestBudget } from '../../src/providers/rate-limit.ts';
import { createSharedBudget } from '../../src/providers/shared-budget.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { startCpuLoad } from './cpu-load.ts';
import { seedBulkMembers } from './seed-bulk.ts';
import { shareAtLuma, shareOfChains } from './share.ts';
import { benchEvent, benchSyncDeps, createBenchDatabase, startSimulatedLuma } from './sync-env.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    budget: { type: 'string', default: 'process' },
    spinners: { type: 'string', default: '2' },
    events: { type: 'string', default: '20' },
    'only-loaded': { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs ?? 3);
const spinners = Number(values.spinners);
const shared = values.budget === 'replicas';
const budget = 20;
const windowMs = 2_000;
const events = Number(values.events);
const pagesPerEvent = (budget * 3) / events;

const clock = () => performance.timeOrigin + performance.now();
const pct = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN);
};
const spread = (xs: number[]) => ({ p50: pct(xs, 50), p90: pct(xs, 90), max: pct(xs, 100) });
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

const postgres = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres();
const db = await createBenchDatabase(process.env.DATABASE_URL || postgres!.url);
// Every grant and every end the shared budget records, as the database stamped them.
await db.sql`CREATE TABLE public.budget_events ("key" text, kind text, at timestamptz)`;
await db.sql`
  CREATE FUNCTION public.log_budget_events() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO public.budget_events
      SELECT NEW.key, 'grant', h FROM unnest(NEW.holds) AS h WHERE NOT (h = ANY (OLD.holds));
    INSERT INTO public.budget_events
      SELECT NEW.key, 'end', s FROM unnest(NEW.starts) AS s WHERE NOT (s = ANY (OLD.starts));
    RETURN NEW;
  END $$`;
await db.sql`
  CREATE TRIGGER log_budget_events AFTER UPDATE ON luma_guest_sync.rate_budget
  FOR EACH ROW EXECUTE FUNCTION public.log_budget_events()`;
try {
  await seedBulkMembers(db.sql, 6_000);
  for (const loaded of values['only-loaded'] ? [true] : [false, true]) {
    const load = loaded ? await startCpuLoad(spinners) : undefined;
    try {
      for (let run = 0; run < runs; run++) {
        const ids = Array.from({ length: events }, (_, i) => `evt-timing-${i}`);
        const luma = await startSimulatedLuma({
          events: Object.fromEntries(ids.map((id) => [id, { guestCount: pagesPerEvent * 100 }])),
          rateLimit: { requests: budget, windowMs },
          recordArrivals: true,
        });
        const key = `timing-${process.pid}-${loaded}-${run}`;
        const pools = shared ? [1, 2, 3].map(() => createDatabase({ url: db.url, poolMax: 2 })) : [];
        const processLimiter = createRateLimiter({ perMinute: budget, windowMs });
        const grants: number[] = [];
        const dones: number[] = [];
        const timed = (inner: RequestBudget): RequestBudget => ({
          async acquire(signal) {
            const done = await inner.acquire(signal);
            grants.push(clock());
            return () => {
              dones.push(clock());
              done();
            };
          },
        });
        const limiters = shared
          ? pools.map((p) => timed(createSharedBudget({ sql: p.sql, key, perMinute: budget, windowMs })))
          : [timed(processLimiter)];
        const messages = await Promise.all(ids.map((id) => benchEvent(db.sql, id)));
        const loop = monitorEventLoopDelay({ resolution: 5 });
        loop.enable();
        await Promise.all(
          messages.map((m, n) =>
            syncEvent(benchSyncDeps(db.db, luma.url, { limiter: limiters[n % limiters.length]! }), m),
          ),
        );
        loop.disable();
        const stats = await luma.stats();
        await luma.stop();
        await Promise.all(pools.map((p) => p.close()));
        const a = sorted(stats.arrivals ?? []);
        let g = sorted(grants);
        let e = sorted(dones);
        if (shared) {
          const rows = await db.sql<{ kind: string; ms: number }[]>`
            SELECT kind, extract(epoch FROM at) * 1000 AS ms FROM public.budget_events WHERE "key" = ${key}`;
          g = sorted(rows.filter((r) => r.kind === 'grant').map((r) => Number(r.ms)));
          e = sorted(rows.filter((r) => r.kind === 'end').map((r) => Number(r.ms)));
        }
        const pairs = Array.from({ length: Math.max(0, a.length - budget) }, (_, k) => k);
        console.log(
          JSON.stringify({
            loaded,
            budget: values.budget,
            rateLimited: stats.rateLimited,
            requests: stats.requests,
            shareAtLuma: shareAtLuma(a, budget, windowMs),
            shareOfChains: shareOfChains(a, budget, windowMs),
            lossMs: spread(pairs.map((k) => a[k + budget]! - a[k]! - windowMs)),
            answerMs: spread(pairs.map((k) => e[k]! - a[k]!)),
            doneMs: shared ? spread(pairs.map((k) => sorted(dones)[k]! - a[k]!)) : undefined,
            idleMs: spread(pairs.map((k) => g[k + budget]! - e[k]! - windowMs)),
            sendMs: spread(pairs.map((k) => a[k + budget]! - g[k + budget]!)),
            grantedMs: shared ? spread(pairs.map((k) => sorted(grants)[k + budget]! - g[k + budget]!)) : undefined,
            eventLoopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
          }),
        );
      }
    } finally {
      await load?.stop();
    }
  }
} finally {
  await db.drop();
  await postgres?.stop();
}
