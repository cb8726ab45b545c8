import cron, { type ScheduledTask } from 'node-cron';
import type { Db } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { findSyncableEventPages } from './discover.ts';
import { type EnqueueDeps, enqueueEventPages } from './enqueue.ts';

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
 * discovers and reports without sending. Pages are enqueued as they are read (at most two
 * in memory: the one being sent and the next), so memory stays flat for any number of events.
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
  const pages = findSyncableEventPages(deps, slot);
  if (dryRun) {
    for await (const page of pages) report.eventsFound += page.length;
  } else {
    const onPage = (events: number) => {
      report.eventsFound += events;
    };
    const sent = await enqueueEventPages(deps, pages, slot, { signal: options.signal, onPage });
    report.enqueued = sent.enqueued;
    report.failed = sent.failed;
    report.calls = sent.calls;
  }
  const level = report.failed > 0 ? 'warn' : 'info';
  deps.log[level](report, 'enqueue run complete');
  return report;
}

/** How fine a cron expression's slots are: to the second when it has a seconds field. */
export type SlotPrecision = 'minute' | 'second';

export function slotPrecisionOf(cronExpression: string): SlotPrecision {
  // node-cron reads six fields as seconds first; five as minutes first.
  return cronExpression.trim().split(/\s+/).length === 6 ? 'second' : 'minute';
}

/**
 * The slot of a cron firing: its scheduled time truncated to the expression's precision.
 * It goes into every deduplication id, so each slot enqueues each event once across all
 * replicas; a slot as fine as the expression keeps two firings of one minute (a seconds
 * field) from sharing an id, which SQS would drop as a duplicate.
 */
export function slotOf(date: Date, precision: SlotPrecision = 'minute'): Date {
  const slot = new Date(date.getTime());
  if (precision === 'minute') slot.setUTCSeconds(0, 0);
  else slot.setUTCMilliseconds(0);
  return slot;
}

/** node-cron's own tolerance: a firing later than this was skipped before catch-up existed. */
const LATE_WARNING_MS = 1_000;
/** Default catch-up window: how late a firing may still run. */
export const DEFAULT_CATCH_UP_MS = 3_600_000;

export interface SchedulerOptions {
  /** Cron expression, evaluated in UTC. */
  cron: string;
  /** One run for one slot; the signal is aborted when stop() gives up waiting. */
  enqueueOnce: (slot: Date, signal: AbortSignal) => Promise<unknown>;
  log: Logger;
  /**
   * How late a firing may still run (a GC pause, CPU throttling, a paused VM, a clock
   * step); later, or once the next slot has come, it is reported missed. Default 1 h.
   */
  catchUpMs?: number;
  /** Told about every firing skipped because the previous run was still going. */
  onOverlap?: (slot: Date) => void;
  /** Told about every slot that never ran: later than the catch-up window, or overtaken by a newer slot. */
  onMissed?: (slot: Date) => void;
  /** Told about every run that threw. */
  onError?: (err: unknown, slot: Date) => void;
}

export interface Scheduler {
  start(): void;
  /** Stops firing; a run in progress goes on. Idempotent; stop() calls it. */
  stopFiring(): void;
  /** Stops firing, then waits up to graceMs for a run in progress, aborting it after that. */
  stop(options?: { graceMs?: number }): Promise<void>;
  /** The run the cron performs for the slot scheduled at `scheduledAt`; exposed for tests. */
  tick(scheduledAt: Date): Promise<void>;
}

/**
 * The cron that only enqueues. node-cron's noOverlap skips a firing while the previous
 * run is still going (a slow run must not double the queue), and we log and count it.
 *
 * Late firings: node-cron runs a slot only while it is at most `missedExecutionTolerance`
 * late (1 s by default), so a GC pause, CPU throttling, a paused VM or a clock step at
 * 03:00 used to lose that replica's sync for the day. Its own option is enough here: with
 * the tolerance set to the catch-up window, a late slot runs late, once (node-cron moves
 * on to the next slot after it), with a warning naming the delay. When several slots
 * passed, node-cron runs the newest and reports the older ones missed: each run enqueues
 * every event, so the newest supersedes them. A slot later than the window is reported
 * missed and counted, not run.
 */
export function createScheduler(options: SchedulerOptions): Scheduler {
  const log = options.log.child({ component: 'Scheduler' });
  const precision = slotPrecisionOf(options.cron);
  const catchUpMs = options.catchUpMs ?? DEFAULT_CATCH_UP_MS;
  let current: { done: Promise<void>; controller: AbortController } | undefined;

  const tick = async (scheduledAt: Date) => {
    const slot = slotOf(scheduledAt, precision);
    const lateMs = Date.now() - scheduledAt.getTime();
    if (lateMs >= LATE_WARNING_MS) log.warn({ slot: slot.toISOString(), lateMs }, 'cron firing late: running it now');
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
  let firing: Promise<void> | undefined;
  const stopFiring = () => {
    if (!task) return;
    const stopping = task;
    task = undefined;
    firing = (async () => {
      await stopping.stop();
      await stopping.destroy();
    })();
  };
  return {
    start() {
      if (task || firing) return;
      task = cron.createTask(options.cron, (context) => tick(context.date), {
        name: 'luma-guest-sync-enqueue',
        timezone: 'UTC',
        noOverlap: true,
        missedExecutionTolerance: catchUpMs,
        // node-cron's own warnings would repeat the structured lines logged below.
        logger: {
          info: (m) => log.debug({ source: 'node-cron' }, String(m)),
          warn: (m) => log.debug({ source: 'node-cron' }, String(m)),
          error: (m, err) => log.error({ err: err ?? m, source: 'node-cron' }, 'node-cron error'),
          debug: (m) => log.trace({ source: 'node-cron' }, String(m)),
        },
      });
      task.on('execution:overlap', (context) => {
        const slot = slotOf(context.date, precision);
        log.warn({ slot: slot.toISOString() }, 'enqueue run skipped: the previous run is still going');
        options.onOverlap?.(slot);
      });
      task.on('execution:missed', (context) => {
        const slot = slotOf(context.date, precision);
        const lateMs = context.triggeredAt.getTime() - context.date.getTime();
        log.warn(
          { slot: slot.toISOString(), lateMs, catchUpMs },
          'cron slot missed: later than the catch-up window or overtaken by a newer slot',
        );
        options.onMissed?.(slot);
      });
      task.start();
      log.info(
        { cron: options.cron, timezone: 'UTC', catchUpMs, next: task.getNextRun()?.toISOString() },
        'scheduler started',
      );
    },

    stopFiring,

    async stop({ graceMs = 10_000 } = {}) {
      stopFiring();
      await firing;
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
