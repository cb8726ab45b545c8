/**
 * Where the time goes between a request budget's grant and the request's arrival at Luma,
 * idle and with the CPU loaded: scenario 4's 20 events at once, with each grant and each
 * arrival (at the simulated Luma, another process) timed on the machine's clock.
 *
 *   node test/bench/budget-timing.ts [--runs 3] [--shared]
 *
 * Prints, per run: the 429s, the grant→arrival delay (k-th grant to k-th arrival, both in
 * time order) as p50/p99/max, the bench process's event-loop delay, and the most arrivals
 * any 2 s window held (the server's view) next to the most grants (the budget's view).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import { createRateLimiter, type RequestBudget } from '../../src/providers/rate-limit.ts';
import { createSharedBudget } from '../../src/providers/shared-budget.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { startCpuLoad } from './cpu-load.ts';
import { seedBulkMembers } from './seed-bulk.ts';
import { benchEvent, benchSyncDeps, createBenchDatabase, startSimulatedLuma } from './sync-env.ts';

const { values } = parseArgs({ options: { runs: { type: 'string' }, shared: { type: 'boolean', default: false } } });
const runs = Number(values.runs ?? 3);
const budget = 20;
const windowMs = 2_000;
const events = 20;
const pagesPerEvent = (budget * 3) / events;

const clock = () => performance.timeOrigin + performance.now();
const pct = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const mostInWindow = (times: number[]) => {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= windowMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
};

const postgres = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres();
const db = await createBenchDatabase(process.env.DATABASE_URL || postgres!.url);
try {
  await seedBulkMembers(db.sql, 6_000);
  for (const loaded of [false, true]) {
    const load = loaded ? await startCpuLoad(2) : undefined;
    try {
      for (let run = 0; run < runs; run++) {
        const ids = Array.from({ length: events }, (_, i) => `evt-timing-${i}`);
        const luma = await startSimulatedLuma({
          events: Object.fromEntries(ids.map((id) => [id, { guestCount: pagesPerEvent * 100 }])),
          rateLimit: { requests: budget, windowMs },
          recordArrivals: true,
        });
        const inner: RequestBudget = values.shared
          ? createSharedBudget({
              sql: db.sql,
              key: `timing-${process.pid}-${loaded}-${run}`,
              perMinute: budget,
              windowMs,
            })
          : createRateLimiter({ perMinute: budget, windowMs });
        const grants: number[] = [];
        const heldMs: number[] = [];
        const limiter: RequestBudget = {
          async acquire(signal) {
            const done = await inner.acquire(signal);
            const grantedAt = clock();
            grants.push(grantedAt);
            return () => {
              heldMs.push(clock() - grantedAt);
              done();
            };
          },
        };
        const messages = await Promise.all(ids.map((id) => benchEvent(db.sql, id)));
        const loop = monitorEventLoopDelay({ resolution: 5 });
        loop.enable();
        const started = clock();
        await Promise.all(messages.map((m) => syncEvent(benchSyncDeps(db.db, luma.url, { limiter }), m)));
        const ms = clock() - started;
        loop.disable();
        const stats = await luma.stats();
        await luma.stop();
        const arrivals = [...(stats.arrivals ?? [])].sort((a, b) => a - b);
        const delays = grants.slice(0, arrivals.length).map((g, k) => arrivals[k]! - g);
        console.log(
          JSON.stringify({
            loaded,
            shared: values.shared,
            rateLimited: stats.rateLimited,
            requests: stats.requests,
            share: Math.round((stats.requests / (ms / windowMs + 1) / budget) * 1000) / 1000,
            lastGrantMs: Math.round(Math.max(...grants) - started),
            tailMs: Math.round(started + ms - Math.max(...grants)),
            grantToArrivalMs: { p50: pct(delays, 50), p99: pct(delays, 99), max: Math.max(...delays) },
            grantToEndMs: { p50: pct(heldMs, 50), p99: pct(heldMs, 99), max: Math.max(...heldMs) },
            eventLoopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
            mostGrantsIn2s: mostInWindow(grants),
            mostArrivalsIn2s: mostInWindow(arrivals),
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
