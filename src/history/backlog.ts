/**
 * Sync attempts whose history row could not be written because the database was away
 * (a restart, a failover, PgBouncer refusing logins while PostgreSQL starts), kept in the
 * process and written once it answers again. Without it such an attempt was logged and
 * never reached sync_history, so `status` and the soak's "the history holds every
 * attempt" were weaker than promised (issue 19).
 *
 * When to write them: as soon as the database is known to answer again (another
 * attempt's row was written: `databaseAnswered`), and otherwise every RETRY_EVERY_MS.
 * Not on a quick doubling back-off: postgres.js counts every failed connection attempt of
 * the pool and delays the pool's next one by 3^failures / 100 s (up to 20 s), so a
 * background writer retrying quickly through an outage delayed every sync and readiness
 * probe after it (measured: ready 11 s after PostgreSQL was back instead of 21 ms, and
 * the outage test's second failed delivery later than 15 s in 5 of 7 runs).
 *
 * One writer at a time, oldest attempt first. The backlog is bounded: an attempt beyond
 * CAPACITY is lost at once (counted, logged). At shutdown `flush` writes what it can
 * within the time it is given, then counts the rest lost, so the process still exits
 * within its grace period. Nothing here holds a message or delays a sync: the sync's own
 * outcome stands whether or not its row is written.
 *
 * A loss is never silent: each lost attempt gets the line 'could not record the sync
 * attempt' (the soak counts those), the flush a summary with the exact number, and
 * lgs_sync_history_lost_total{reason} counts them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import { within } from '../within.ts';
import type { SyncAttempt } from './record-attempt.ts';

/**
 * Why an attempt never reached the history. shutdown: the process stopped before the
 * database came back; backlog_full: the backlog already held CAPACITY attempts;
 * rejected: the database refused the row for a reason waiting cannot cure.
 */
export const HISTORY_LOSS_REASONS = ['shutdown', 'backlog_full', 'rejected'] as const;
export type HistoryLossReason = (typeof HISTORY_LOSS_REASONS)[number];

/**
 * Attempts kept at most: well under a megabyte. While the database is away each queued
 * message fails at most once per visibility timeout (120 s by default), so this holds,
 * for example, an hour's attempts of 30 queued events; beyond it each loss is counted.
 */
export const BACKLOG_CAPACITY = 1_000;
/** How often the backlog tries on its own when no other write shows the database back. */
export const BACKLOG_RETRY_EVERY_MS = 30_000;
/** During the shutdown flush: the wait after a failed write, doubled up to MAX. */
export const FLUSH_FIRST_DELAY_MS = 250;
export const FLUSH_MAX_DELAY_MS = 2_000;
/** How long the flush waits for a withdrawn write to settle (it rejects at once unless already sent). */
const WITHDRAW_WAIT_MS = 250;

type WriteOutcome = 'written' | 'rejected' | 'away';

export interface HistoryBacklogOptions {
  /**
   * Writes one attempt's row (recordSyncAttempt). An aborted `signal` withdraws a
   * statement not yet sent, which then rejects: the flush's way to know, at its
   * deadline, that a write waiting for a connection did not happen.
   */
  write(attempt: SyncAttempt, signal: AbortSignal): Promise<void>;
  log: Pick<Logger, 'info' | 'warn'>;
  capacity?: number;
  retryEveryMs?: number;
  flushFirstDelayMs?: number;
  /** Counted in lgs_sync_history_lost_total. */
  onLost?(reason: HistoryLossReason, count: number): void;
  /** The number of attempts waiting, after every change (lgs_sync_history_backlog). */
  onSize?(size: number): void;
  /** The monotonic clock in milliseconds the flush's budget is measured on; tests pass a mocked one. */
  now?: () => number;
  /** The flush's wait between tries; tests pass one on the timers they mock. */
  sleep?: (ms: number) => Promise<unknown>;
}

export interface FlushReport {
  /** Attempts written during the flush. */
  written: number;
  /** Attempts counted lost because the flush ran out of time. */
  lost: number;
  /**
   * 1 when a write was still unanswered as the time ran out: it is counted lost, though
   * the database may yet commit it while the pool closes.
   */
  unanswered: number;
}

export interface HistoryBacklog {
  /**
   * Takes an attempt whose write failed with `err`: kept for a later write when waiting
   * can cure the failure, otherwise (and once shutdown has flushed) counted lost.
   */
  keep(attempt: SyncAttempt, err: unknown): void;
  /** Another write went through: the database answers, so the backlog is written now. */
  databaseAnswered(): void;
  /** Attempts waiting (including one being written). */
  size(): number;
  /**
   * For shutdown: stops the background retries, writes what it can within `budgetMs`, and
   * counts the rest lost. Resolves within budgetMs; never rejects. Later keeps are lost.
   */
  flush(budgetMs: number): Promise<FlushReport>;
}

export function createHistoryBacklog(options: HistoryBacklogOptions): HistoryBacklog {
  const { log } = options;
  const capacity = options.capacity ?? BACKLOG_CAPACITY;
  const retryEveryMs = options.retryEveryMs ?? BACKLOG_RETRY_EVERY_MS;
  const flushFirstDelayMs = options.flushFirstDelayMs ?? FLUSH_FIRST_DELAY_MS;
  const now = options.now ?? (() => performance.now());
  const pause = options.sleep ?? sleep;
  const waiting: SyncAttempt[] = [];
  /** The write of the oldest attempt in flight (taken out of `waiting` until it settles). */
  let writing: Promise<WriteOutcome> | undefined;
  /** Whether a drain runs; set back in the same tick its loop ends. */
  let draining = false;
  let retryTimer: NodeJS.Timeout | undefined;
  /** databaseAnswered() was called while a drain's write was in flight. */
  let answeredMeanwhile = false;
  /** Aborted when the flush's time is over: withdraws a write still waiting for a connection. */
  const withdraw = new AbortController();
  let flushed = false;

  const sizeNow = () => waiting.length + (writing ? 1 : 0);
  const sizeChanged = () => options.onSize?.(sizeNow());

  function lose(attempts: readonly SyncAttempt[], reason: HistoryLossReason, err?: unknown): void {
    if (attempts.length === 0) return;
    for (const attempt of attempts) {
      log.warn(
        { ...describe(attempt), lossReason: reason, ...(err ? { err } : {}) },
        'could not record the sync attempt',
      );
    }
    options.onLost?.(reason, attempts.length);
  }

  /**
   * Writes the oldest waiting attempt. 'away': the database is still away, and the
   * attempt waits again, first in line; 'rejected': refused for good, and lost.
   */
  function writeOldest(signal: AbortSignal): Promise<WriteOutcome> {
    const attempt = waiting.shift();
    if (!attempt) return Promise.resolve('written');
    const current: Promise<WriteOutcome> = options
      .write(attempt, signal)
      .then(
        (): WriteOutcome => {
          log.info(
            { ...describe(attempt), backlog: waiting.length },
            'sync attempt recorded after the database came back',
          );
          return 'written';
        },
        (err: unknown): WriteOutcome => {
          if (!waitingCanCure(err)) {
            lose([attempt], 'rejected', err);
            return 'rejected';
          }
          waiting.unshift(attempt);
          return 'away';
        },
      )
      .finally(() => {
        if (writing === current) writing = undefined;
        sizeChanged();
      });
    writing = current;
    return current;
  }

  /** Writes the waiting attempts, oldest first, until none is left or the database is away again. */
  async function drain(): Promise<void> {
    if (draining || flushed) return;
    draining = true;
    clearTimeout(retryTimer);
    retryTimer = undefined;
    while (waiting.length > 0 && !flushed) {
      answeredMeanwhile = false;
      // Away, unless another write went through while this one failed: then again.
      if ((await writeOldest(withdraw.signal)) === 'away' && !answeredMeanwhile) break;
    }
    draining = false;
    if (waiting.length > 0 && !flushed) armRetry();
  }

  function armRetry(): void {
    if (retryTimer || draining || flushed) return;
    // Unref'd: a backlog never keeps a process alive that has nothing else to do.
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void drain();
    }, retryEveryMs).unref();
  }

  return {
    keep(attempt, err) {
      if (flushed) return lose([attempt], 'shutdown', err);
      if (!waitingCanCure(err)) return lose([attempt], 'rejected', err);
      if (sizeNow() >= capacity) return lose([attempt], 'backlog_full', err);
      waiting.push(attempt);
      sizeChanged();
      log.warn(
        { ...describe(attempt), backlog: sizeNow(), reason: (err as Error | undefined)?.message },
        'sync attempt kept until the database is back',
      );
      armRetry();
    },

    databaseAnswered() {
      answeredMeanwhile = true;
      if (waiting.length > 0) void drain();
    },

    size: sizeNow,

    async flush(budgetMs) {
      flushed = true;
      const started = now();
      // What is left for writing; the last WITHDRAW_WAIT_MS are kept for a withdrawn write.
      const left = () => budgetMs - WITHDRAW_WAIT_MS - (now() - started);
      clearTimeout(retryTimer);
      const before = sizeNow();
      let written = 0;
      let delayMs = flushFirstDelayMs;
      // A write the background loop has in flight settles first (or the time runs out).
      let pending: Promise<WriteOutcome> | undefined = writing;
      while (left() > 0) {
        if (!pending) {
          if (waiting.length === 0) break;
          pending = writeOldest(withdraw.signal);
        }
        const outcome = await within(pending, left());
        if (outcome === undefined) break; // out of time, the write still unanswered
        pending = undefined;
        if (outcome === 'written') written++;
        if (outcome === 'away') {
          await pause(Math.max(0, Math.min(delayMs, left())));
          delayMs = Math.min(delayMs * 2, FLUSH_MAX_DELAY_MS);
        }
      }
      if (writing) {
        // Out of time with a write unanswered: withdraw it if it is still waiting for a
        // connection (it then fails at once and counts lost with the rest below).
        withdraw.abort();
        await within(writing, WITHDRAW_WAIT_MS);
      }
      const unanswered = writing ? 1 : 0;
      const rest = waiting.splice(0);
      sizeChanged();
      lose(rest, 'shutdown');
      if (unanswered) options.onLost?.('shutdown', 1);
      const lost = rest.length + unanswered;
      const ms = Math.round(now() - started);
      if (lost > 0) {
        log.warn({ lost, unanswered, written, ms }, 'sync attempts lost: the database did not come back before exit');
      } else if (before > 0) {
        log.info({ written, ms }, 'sync history backlog written before exit');
      }
      return { written, lost, unanswered };
    },
  };
}

/** What the log says of one attempt. */
function describe(attempt: SyncAttempt) {
  return {
    eventUid: attempt.eventUid,
    trigger: attempt.trigger,
    outcome: attempt.outcome,
    endedSecondsAgo:
      attempt.endedAtMonotonicMs === undefined
        ? undefined
        : Math.round((performance.now() - attempt.endedAtMonotonicMs) / 1000),
  };
}

/**
 * SQLSTATE classes waiting cannot cure: bad data (22), a violated constraint (23), a
 * missing table, column or privilege (42), an unsupported feature (0A). Everything else
 * from the database or the network (classes 08 and 57, PgBouncer's login retry, refused,
 * reset and timed-out connections) may be over once the database is back. An error
 * without a code is a fault of this process, not of the database.
 */
export function waitingCanCure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  if (typeof code !== 'string') return false;
  // postgres.js's own: the pool was ended on purpose; no later write can go through it.
  if (code === 'CONNECTION_ENDED') return false;
  return !/^(?:22|23|42|0A)[0-9A-Z]{3}$/.test(code);
}
