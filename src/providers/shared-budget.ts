import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Sql } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { DEFAULT_HOLD_MS, type RequestBudget, type RequestDone } from './rate-limit.ts';

export interface SharedBudgetOptions {
  /** The worker's database; the budget lives in luma_guest_sync.rate_budget (migrations 0003, 0009). */
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
}

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

/**
 * A sliding-window request budget shared through PostgreSQL by every replica using one
 * Luma key: at most `perMinute` requests reach Luma in any window of `windowMs`, whatever
 * the number of processes. As in rate-limit.ts, a request counts from its grant until one
 * window after it ended. Each grant is one call of luma_guest_sync.take_rate_slot, which
 * serialises on the key's row, reads the database's clock, and either records the grant
 * or answers how long at least until a slot frees; the caller sleeps that long and asks
 * again. The request's end is one call of end_rate_slot, not awaited by the request.
 *
 * Inside one process the callers take turns (in arrival order) and only the one at the
 * head talks to the database, so a process costs one round trip per granted request while
 * the budget has room, and one more per slot when it is exhausted, however many syncs
 * wait. A per-process limiter in front would add nothing: no process can exceed a budget
 * that all of them share.
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
  const sleep = options.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }));

  const turns: Turn[] = [];
  let busy = false;

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

  /** The grant's time when a start was recorded, else the milliseconds to wait before asking again. */
  const tryStart = async (): Promise<{ waitMs: number; grantedAt: string | null }> => {
    try {
      // As text, to the microsecond: end_rate_slot finds the hold by this exact value (a Date keeps milliseconds).
      const [row] = await sql<{ wait_ms: number; granted_at: string | null }[]>`
        SELECT wait_ms, granted_at::text AS granted_at
        FROM luma_guest_sync.take_rate_slot(${key}, ${limit}::int, ${windowMs}::int, ${holdMs}::int)`;
      return { waitMs: row?.wait_ms ?? 0, grantedAt: row?.granted_at ?? null };
    } catch (err) {
      const missing = MISSING_OBJECT_CODES.has(String((err as { code?: unknown }).code));
      const hint = missing ? ' (run db:migrate: migration 0009 adds it)' : '';
      throw new Error(`The shared Luma request budget is unavailable${hint}`, { cause: err });
    }
  };

  /**
   * Reports the request's end, once, without making the request wait for it. If it
   * fails, the grant stays a hold and counts as ended `holdMs` after it: late, never early.
   */
  const doneOf = (grantedAt: string): RequestDone => {
    let reported = false;
    return () => {
      if (reported) return;
      reported = true;
      sql`SELECT luma_guest_sync.end_rate_slot(${key}, ${grantedAt}::timestamptz)`.then(
        () => {},
        // The message only: a driver error may carry the statement and its parameters.
        (err: unknown) =>
          log?.warn(
            { reason: (err as Error).message },
            'could not report the end of a luma request to the shared budget',
          ),
      );
    };
  };

  return {
    async acquire(signal?: AbortSignal): Promise<RequestDone> {
      signal?.throwIfAborted();
      await takeTurn(signal);
      try {
        for (;;) {
          const start = await tryStart();
          if (start.grantedAt) return doneOf(start.grantedAt);
          // No slot frees later than one window from now; a longer answer is a clock step.
          const waitMs = Math.min(Math.max(1, start.waitMs), windowMs);
          log?.debug({ waitMs, perMinute: limit, windowMs }, 'waiting for the shared luma request budget');
          try {
            await sleep(waitMs, signal);
          } catch (err) {
            throw signal?.aborted ? signal.reason : err;
          }
        }
      } finally {
        passTurn();
      }
    },
  };
}
