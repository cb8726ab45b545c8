import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Sql } from '../db/client.ts';
import type { Logger } from '../log.ts';
import type { RequestBudget } from './rate-limit.ts';

export interface SharedBudgetOptions {
  /** The worker's database; the budget lives in luma_guest_sync.rate_budget (migration 0003). */
  sql: Sql;
  /** Names the budget: every process passing the same key shares it. A hash, never the API key. */
  key: string;
  /** Most requests that may start in any window of `windowMs`, across every process on `key`. */
  perMinute: number;
  /** Window length; 60 s in production, scaled down by benchmarks and tests. */
  windowMs?: number;
  /** Extra spacing added to every window, as in rate-limit.ts; default 2% of windowMs. */
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
 * Luma key: at most `perMinute` request starts in any window of `windowMs`, whatever the
 * number of processes. Each grant is one call of luma_guest_sync.acquire_rate_budget,
 * which serialises on the key's row, reads the database's clock, and either records the
 * start or answers how long until a slot frees; the caller sleeps that long and asks again.
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
  // Grants are timed by the database, arrivals by Luma: the guard absorbs the gap (rate-limit.ts).
  const windowMs = Math.round(baseWindowMs + (options.guardMs ?? baseWindowMs * 0.02));
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

  /** 0 when a start was recorded, else the milliseconds to wait before asking again. */
  const tryStart = async (): Promise<number> => {
    try {
      const [row] = await sql<{ wait: number }[]>`
        SELECT luma_guest_sync.acquire_rate_budget(${key}, ${limit}::int, ${windowMs}::int) AS wait`;
      return row?.wait ?? 0;
    } catch (err) {
      const missing = MISSING_OBJECT_CODES.has(String((err as { code?: unknown }).code));
      const hint = missing ? ' (run db:migrate: migration 0003 adds it)' : '';
      throw new Error(`The shared Luma request budget is unavailable${hint}`, { cause: err });
    }
  };

  return {
    async acquire(signal?: AbortSignal): Promise<void> {
      signal?.throwIfAborted();
      await takeTurn(signal);
      try {
        for (;;) {
          // No slot frees later than one window from now; a longer answer is a clock step
          // (migration 0006 corrects the row; a replica on an older function may not).
          const waitMs = Math.min(await tryStart(), windowMs);
          if (waitMs <= 0) return;
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
