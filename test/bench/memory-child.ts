/**
 * One measured sync in a process of its own, after a warm-up sync in the same process:
 *   node --expose-gc test/bench/memory-child.ts <databaseUrl> <lumaUrl> <jobJson>
 * where job is { mode, warmup, message, removeStale }. The baseline is taken after the
 * warm-up and a full GC, so start-up (module loading, JIT, the first connections) is in
 * it and not in the growth.
 *
 * - mode "rss": resident memory sampled every few ms *during* the sync, with no forced
 *   GC (a forced GC would flatter it); prints the largest sample minus the baseline.
 * - mode "heap": the heap after a full GC, taken after every tenth of the pages *during*
 *   the sync: what the sync holds while it runs (the kept set of stale removal, and
 *   nothing that grows with the list otherwise); prints the largest minus the baseline.
 *
 * Prints one JSON line {"growthBytes", "samples", "fetched", "created", "removed", "ms",
 * "cpuMs"}: ms and cpuMs being the measured sync's wall and CPU time (this process's).
 */
import { createDatabase } from '../../src/db/client.ts';
import type { GuestProvider } from '../../src/providers/types.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import type { SyncMessage } from '../../src/sync/types.ts';
import { benchSyncDeps } from './sync-env.ts';

interface Job {
  mode: 'rss' | 'heap';
  warmup: SyncMessage;
  message: SyncMessage;
  /** The list's length in guests, to space the heap samples. */
  guests: number;
  removeStale: boolean;
}

const [databaseUrl, lumaUrl, jobJson] = process.argv.slice(2);
const job = JSON.parse(jobJson!) as Job;
const gc = globalThis.gc;
if (!gc) throw new Error('run with --expose-gc');
const database = createDatabase({ url: databaseUrl!, poolMax: 2 });
const base = benchSyncDeps(database.db, lumaUrl!);
const heapSamples: number[] = [];
const pagesPerSample = Math.max(1, Math.round(job.guests / 100 / 10));
let sampling = false;

/** The Luma provider, with a full GC and a heap reading after every `pagesPerSample` pages while sampling. */
const luma = base.providers.LUMA!;
const sampled: GuestProvider = {
  ...luma,
  fetchGuestsInBatches: (onBatch, options) =>
    luma.fetchGuestsInBatches(async (batch) => {
      await onBatch(batch);
      if (sampling && job.mode === 'heap' && batch.page % pagesPerSample === 0) {
        gc();
        heapSamples.push(process.memoryUsage().heapUsed);
      }
    }, options),
};
const deps = {
  ...base,
  providers: { ...base.providers, LUMA: sampled },
  ...(job.removeStale ? { removeStale: { enabled: true, maxShare: 0.5 } } : {}),
};

await syncEvent(deps, job.warmup);
gc();
gc();
const baseline = job.mode === 'rss' ? process.memoryUsage.rss() : process.memoryUsage().heapUsed;

let maxRss = process.memoryUsage.rss();
let rssSamples = 0;
const rssTimer = setInterval(() => {
  maxRss = Math.max(maxRss, process.memoryUsage.rss());
  rssSamples++;
}, 5);
sampling = true;
const started = performance.now();
const cpuBefore = process.cpuUsage();
const result = await syncEvent(deps, job.message);
const ms = performance.now() - started;
const cpu = process.cpuUsage(cpuBefore);
sampling = false;
clearInterval(rssTimer);
maxRss = Math.max(maxRss, process.memoryUsage.rss());
await database.close();

const growthBytes = job.mode === 'rss' ? maxRss - baseline : Math.max(...heapSamples) - baseline;
console.log(
  JSON.stringify({
    growthBytes,
    samples: job.mode === 'rss' ? rssSamples : heapSamples.length,
    fetched: result.fetched,
    created: result.created,
    removed: result.removed,
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
  }),
);
