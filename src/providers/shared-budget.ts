import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Sql } from '../db/client.ts';
import { DatabaseLimitError, limitKindOf } from '../db/database-limits.ts';
import { asDatabaseFailure } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type Asked, createDatabaseClockBound } from './database-clock.ts';
import { DEFAULT_HOLD_MS, type RequestBudget, type RequestDone } from './rate-limit.ts';

export interface SharedBudgetOptions {
  /** The worker's database; the budget lives in luma_guest_sync.rate_budget (migrations 0003, 0009, 0011). */
  sql: Sql;
  /** Names the budget: every process passing the same key shares it. A hash, never the API key. */
  key: string;
  /** Most requests that may start in any window of `windowMs`, across every process on `key`. */
  perMinute: number;
  /** Window length; 60 s in production, scaled down by benchmarks and tests. */
  windowMs?: number;
  /** The longest a request can last (its timeout), as in rate-limit.ts; default one minute. */
  holdMs?: number;
  /** Extra spacing added to every window, as in rate-limit.ts; none by default. */
  guardMs?: number;
  log?: Logger;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** A monotonic clock in milliseconds, for the bound of a request's end. */
  now?: () => number;
}

/** What a sync was doing when the budget's statement failed (database-limits.ts). */
export const BUDGET_STAGE = 'reserving a Luma request in the shared budget';

/**
 * The budget key of an API key: a domain-separated SHA-256, so the key itself is never
 * stored or logged, while every replica configured with the same key finds the same budget.
 */
export function sharedBudgetKey(provider: string, apiKey: string): string {
  const digest = createHash('sha256').update(`luma-guest-sync rate budget\0${provider}\0${apiKey}`).digest('hex');
  return `${provider.toLowerCase()}:${digest.slice(0, 32)}`;
}

/** undefined_function, undefined_table, invalid_schema_name: the migration has not run. */
const MISSING_OBJECT_CODES = new Set(['42883', '42P01', '3F000']);

interface Turn {
  resolve: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/** A slot the database granted: from `slotAt` on (its clock), `waitMs` after it answered. */
interface Slot {
  /** The slot's start, as text to the microsecond: the hold is found by this exact value. */
  slotAt: string;
  waitMs: number;
  /** The reserve call that granted it. */
  asked: Asked;
}

/**
 * A sliding-window request budget shared through PostgreSQL by every replica using one
 * Luma key: at most `perMinute` requests reach Luma in any window of `windowMs`, whatever
 * the number of processes. As in rate-limit.ts, a request counts from its slot's start
 * until one window after it ended.
 *
 * Each slot is one call of luma_guest_sync.reserve_rate_slot (migration 0011), which
 * serialises on the key's row and reads the database's clock. With room, it grants a slot
 * now. Without, when the slot that frees next is one of an ended request, it grants it for
 * the moment it frees (one window after that end) and the caller sleeps until then and
 * sends: no second round trip at the moment the slot frees, and meanwhile the next caller
 * can reserve the slot after. Only when a request still in flight must end first is the
 * answer "at least one window": the caller asks again after a tenth of a window, or
 * sooner when a request of this process ends, by when that end is usually recorded.
 *
 * The request's end is one call of end_rate_slot, not awaited by the request, with a
 * bound the database can trust: a call of the last window reached the database after
 * this process made it, so the database's clock at the end read at most that call's
 * arrival plus the time this process measured since making it (the call that went
 * fastest gives the tightest bound; database-clock.ts). So the end counted is not the later
 * moment the end call got through a busy pool and the key's lock.
 *
 * Inside one process the callers take turns (in arrival order) to talk to the database;
 * a caller holding a reservation leaves the turn before sleeping. A per-process limiter in
 * front would add nothing: no process can exceed a budget that all of them share.
 */
export function createSharedBudget(options: SharedBudgetOptions): RequestBudget {
  const { sql, key, log } = options;
  const limit = options.perMinute;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('perMinute must be a whole number of at least 1');
  const baseWindowMs = options.windowMs ?? 60_000;
  if (!Number.isInteger(baseWindowMs) || baseWindowMs < 1)
    throw new RangeError('windowMs must be a whole number of at least 1');
  const windowMs = Math.round(baseWindowMs + (options.guardMs ?? 0));
  const holdMs = Math.round(options.holdMs ?? DEFAULT_HOLD_MS);
  const pollMs = Math.max(1, Math.round(windowMs / 10));
  const sleep = options.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }));
  const now = options.now ?? (() => performance.now());

  const turns: Turn[] = [];
  let busy = false;
  /** Wakes the caller waiting for a request in flight to end. */
  let wakeWaiter: AbortController | null = null;

  /** Resolves when this caller is at the head of the process's queue. */
  const takeTurn = (signal?: AbortSignal): Promise<void> => {
    if (!busy) {
      busy = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const turn: Turn = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = turns.indexOf(turn);
          if (index !== -1) turns.splice(index, 1);
          reject(signal?.reason);
        },
      };
      signal?.addEventListener('abort', turn.onAbort, { once: true });
      turns.push(turn);
    });
  };

  const passTurn = (): void => {
    const next = turns.shift();
    if (!next) {
      busy = false;
      return;
    }
    next.signal?.removeEventListener('abort', next.onAbort);
    next.resolve();
  };

  const unavailable = (err: unknown): Error => {
    // A limit, contention or a read-only server (a failover) is told as for the sync's own
    // statements, with its kind: a lock_timeout comes back soon, a read-only server is named.
    const kind = limitKindOf(err);
    if (kind) return new DatabaseLimitError(kind, BUDGET_STAGE, undefined, err);
    const missing = MISSING_OBJECT_CODES.has(String((err as { code?: unknown }).code));
    const hint = missing ? ' (run db:migrate: migration 0011 adds it)' : '';
    // Sent without Drizzle: a socket's own error (a reset at a restart) is named here.
    return new Error(`The shared Luma request budget is unavailable${hint}`, { cause: asDatabaseFailure(err) });
  };

  /** The calls of the last window bound the database's clock at a request's end. */
  const databaseClock = createDatabaseClockBound(windowMs);

  /** A slot, now or reserved for later; else null and the least wait before asking again. */
  const reserve = async (): Promise<{ slot: Slot | null; waitMs: number }> => {
    const sentMs = now();
    try {
      // The slot as text, to the microsecond: end_rate_slot finds the hold by this exact value (a Date keeps milliseconds).
      const [row] = await sql<{ wait_ms: number; slot_at: string | null; asked_ms: number }[]>`
        SELECT wait_ms, slot_at::text AS slot_at, (extract(epoch FROM asked_at) * 1000)::float8 AS asked_ms
        FROM luma_guest_sync.reserve_rate_slot(${key}, ${limit}::int, ${windowMs}::int, ${holdMs}::int)`;
      const asked: Asked = { sentMs, askedMs: Number(row?.asked_ms) };
      databaseClock.record(asked);
      const waitMs = Math.max(0, row?.wait_ms ?? 0);
      if (!row?.slot_at) return { slot: null, waitMs };
      return { slot: { slotAt: row.slot_at, waitMs, asked }, waitMs };
    } catch (err) {
      throw unavailable(err);
    }
  };

  /** Reports a database call's failure by its message only: a driver error may carry the statement and its parameters. */
  const warnOf = (what: string) => (err: unknown) => log?.warn({ reason: (err as Error).message }, what);

  /**
   * Reports the request's end, once, without making the request wait for it. If it
   * fails, the slot stays a hold and counts as ended `holdMs` after it: late, never early.
   */
  const doneOf = (slot: Slot): RequestDone => {
    let reported = false;
    return () => {
      if (reported) return;
      reported = true;
      const endedBy = databaseClock.latestAt(now(), slot.asked);
      const bound = Number.isFinite(endedBy) ? endedBy : null;
      sql`
        SELECT luma_guest_sync.end_rate_slot(
          ${key}, ${slot.slotAt}::timestamptz, to_timestamp(${bound}::float8 / 1000))`.then(
        // Recorded: a caller waiting for a request in flight may now get an exact slot.
        () => wakeWaiter?.abort(),
        warnOf('could not report the end of a luma request to the shared budget'),
      );
    };
  };

  /** Sleeps `ms`; true when woken early by a request of this process ending. */
  const sleepWakeable = async (ms: number, signal?: AbortSignal): Promise<boolean> => {
    const wake = new AbortController();
    wakeWaiter = wake;
    try {
      await sleep(ms, signal ? AbortSignal.any([signal, wake.signal]) : wake.signal);
      return false;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (wake.signal.aborted) return true;
      throw err;
    } finally {
      if (wakeWaiter === wake) wakeWaiter = null;
    }
  };

  return {
    async acquire(signal?: AbortSignal): Promise<RequestDone> {
      signal?.throwIfAborted();
      await takeTurn(signal);
      let slot: Slot;
      try {
        for (;;) {
          const answer = await reserve();
          if (answer.slot) {
            slot = answer.slot;
            break;
          }
          // No slot frees before one window from now, so a longer answer is a clock step;
          // asked again sooner, the next answer is exact once the request in flight has ended.
          const waitMs = Math.min(Math.max(1, answer.waitMs), pollMs);
          log?.debug({ waitMs, perMinute: limit, windowMs }, 'waiting for the shared luma request budget');
          await sleepWakeable(waitMs, signal);
        }
      } finally {
        passTurn();
      }
      if (slot.waitMs > 0) {
        try {
          // From this answer on: its arrival is no earlier than the database's "now", and a
          // millisecond more covers a timer firing early. Capped, as a longer answer is a clock step.
          await sleep(Math.min(slot.waitMs, windowMs) + 1, signal);
        } catch (err) {
          // Never sent: the reservation counts for nothing.
          sql`SELECT luma_guest_sync.release_rate_slot(${key}, ${slot.slotAt}::timestamptz)`.then(
            () => {},
            warnOf('could not release a luma request slot of the shared budget'),
          );
          throw signal?.aborted ? signal.reason : err;
        }
      }
      return doneOf(slot);
    },
  };
}
