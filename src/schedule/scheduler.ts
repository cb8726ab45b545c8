import cron, { type ScheduledTask } from 'node-cron';
import type { Db } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { findSyncableEventPages } from './discover.ts';
import { type EnqueueDeps, enqueueEvents } from './enqueue.ts';

export interface EnqueueRunReport {
  /** ISO time of the slot the messages carry. */
  slot: string;
  eventsFound: number;
  enqueued: number;
  failed: number;
  calls: number;
  dryRun: boolean;
}

export type RunEnqueueDeps = EnqueueDeps & { db: Db; log: Logger };

/**
 * One scheduler run: discovers the events syncable at `slot` and enqueues one message per
 * event for that slot. Used by the cron and by the `enqueue` command; with `dryRun` it
 * discovers and reports without sending. Pages are enqueued as they are read, so memory
 * stays flat for any number of events.
 */
export async function runEnqueue(
  deps: RunEnqueueDeps,
  slot: Date,
  options: { dryRun?: boolean; signal?: AbortSignal } = {},
): Promise<EnqueueRunReport> {
  const dryRun = options.dryRun ?? false;
  const report: EnqueueRunReport = {
    slot: slot.toISOString(),
    eventsFound: 0,
    enqueued: 0,
    failed: 0,
    calls: 0,
    dryRun,
  };
  for await (const page of findSyncableEventPages(deps, slot)) {
    report.eventsFound += page.length;
    if (dryRun) continue;
    const sent = await enqueueEvents(deps, page, slot, { signal: options.signal });
    report.enqueued += sent.enqueued;
    report.failed += sent.failed;
    report.calls += sent.calls;
  }
  const level = report.failed > 0 ? 'warn' : 'info';
  deps.log[level](report, 'enqueue run complete');
  return report;
}

/**
 * The slot of a cron firing: its scheduled time truncated to the minute. Replicas whose
 * clocks or timers differ by seconds still agree on it, and it goes into every
 * deduplication id, so each slot enqueues each event once across all replicas.
 */
export function slotOf(date: Date): Date {
  const slot = new Date(date.getTime());
  slot.setUTCSeconds(0, 0);
  return slot;
}

export interface SchedulerOptions {
  /** Cron expression, evaluated in UTC. */
  cron: string;
  /** One run for one slot; the signal is aborted when stop() gives up waiting. */
  enqueueOnce: (slot: Date, signal: AbortSignal) => Promise<unknown>;
  log: Logger;
  /** Told about every firing skipped because the previous run was still going. */
  onOverlap?: (slot: Date) => void;
  /** Told about every run that threw. */
  onError?: (err: unknown, slot: Date) => void;
}

export interface Scheduler {
  start(): void;
  /** Stops firing, then waits up to graceMs for a run in progress, aborting it after that. */
  stop(options?: { graceMs?: number }): Promise<void>;
  /** The run the cron performs for a firing at `firedAt`; exposed for tests and the CLI. */
  tick(firedAt: Date): Promise<void>;
}

/**
 * The cron that only enqueues. node-cron's noOverlap skips a firing while the previous
 * run is still going (a slow run must not double the queue), and we log and count it.
 */
export function createScheduler(options: SchedulerOptions): Scheduler {
  const log = options.log.child({ component: 'Scheduler' });
  let current: { done: Promise<void>; controller: AbortController } | undefined;

  const tick = async (firedAt: Date) => {
    const slot = slotOf(firedAt);
    const controller = new AbortController();
    const done = (async () => {
      try {
        await options.enqueueOnce(slot, controller.signal);
      } catch (err) {
        // Caught here so node-cron does not log it a second time; the next slot retries.
        log.error({ err, slot: slot.toISOString() }, 'enqueue run failed');
        options.onError?.(err, slot);
      }
    })();
    current = { done, controller };
    try {
      await done;
    } finally {
      if (current?.done === done) current = undefined;
    }
  };

  let task: ScheduledTask | undefined;
  return {
    start() {
      if (task) return;
      task = cron.createTask(options.cron, (context) => tick(context.date), {
        name: 'luma-guest-sync-enqueue',
        timezone: 'UTC',
        noOverlap: true,
        // node-cron's own warnings would repeat the structured lines logged below.
        logger: {
          info: (m) => log.debug({ source: 'node-cron' }, String(m)),
          warn: (m) => log.debug({ source: 'node-cron' }, String(m)),
          error: (m, err) => log.error({ err: err ?? m, source: 'node-cron' }, 'node-cron error'),
          debug: (m) => log.trace({ source: 'node-cron' }, String(m)),
        },
      });
      task.on('execution:overlap', (context) => {
        const slot = slotOf(context.date);
        log.warn({ slot: slot.toISOString() }, 'enqueue run skipped: the previous run is still going');
        options.onOverlap?.(slot);
      });
      task.on('execution:missed', (context) => {
        log.warn({ slot: slotOf(context.date).toISOString() }, 'cron firing missed: the event loop was blocked');
      });
      task.start();
      log.info({ cron: options.cron, timezone: 'UTC', next: task.getNextRun()?.toISOString() }, 'scheduler started');
    },

    async stop({ graceMs = 10_000 } = {}) {
      if (task) {
        await task.stop();
        await task.destroy();
        task = undefined;
      }
      const running = current;
      if (!running) return;
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<'expired'>((resolve) => {
        timer = setTimeout(() => resolve('expired'), graceMs);
      });
      const outcome = await Promise.race([running.done.then(() => 'done' as const), expired]);
      clearTimeout(timer);
      if (outcome === 'expired') {
        log.warn({ graceMs }, 'enqueue run still going at shutdown: aborting it');
        running.controller.abort(new Error('scheduler stopped'));
        await running.done;
      }
    },

    tick,
  };
}
