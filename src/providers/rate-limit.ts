import { setTimeout as delay } from 'node:timers/promises';

/**
 * Where requests to a rate-limited API ask for permission to start. The process-wide
 * limiter below is one implementation; a budget shared through the database (for
 * several replicas on one Luma key) could replace it without touching the provider.
 */
export interface RequestBudget {
  /** Resolves when one more request may start; rejects with `signal.reason` if aborted first. */
  acquire(signal?: AbortSignal): Promise<void>;
}

export interface RateLimiterOptions {
  /** Most requests that may start in any window of `windowMs`. */
  perMinute: number;
  /** Window length; 60 s in production, scaled down by benchmarks and tests. */
  windowMs?: number;
  /** Extra spacing added to every window; default 2% of windowMs (1.2 s for a minute). */
  guardMs?: number;
  /** A monotonic clock in milliseconds. */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/**
 * A sliding-window limiter: a request may start when fewer than `perMinute` requests
 * started in the last `windowMs`. A 429 from Luma blocks the key for a whole minute,
 * so the guarantee is strict for every window, not an average; bursts up to the budget
 * are allowed because Luma counts requests, not their spacing. Waiters are served in
 * arrival order so one busy sync cannot starve another. Create one per process and
 * share it between all concurrent syncs.
 */
export function createRateLimiter(options: RateLimiterOptions): RequestBudget {
  const limit = options.perMinute;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('perMinute must be a whole number of at least 1');
  // The server counts arrivals, we count starts: a request that set up its connection
  // arrived later than it started, so the server's window can begin after ours and a
  // request sent exactly one window later would land in it. The guard absorbs that.
  const windowMs = (options.windowMs ?? 60_000) + (options.guardMs ?? (options.windowMs ?? 60_000) * 0.02);
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }));

  // Ring buffer of the last `limit` start times; once full, starts[next] is the oldest.
  const starts = new Float64Array(limit);
  let next = 0;
  let count = 0;
  const waiters: Waiter[] = [];
  let pumping = false;
  let pumpWake: AbortController | null = null;

  const msUntilFree = (): number => {
    if (count < limit) return 0;
    return Math.max(0, (starts[next] ?? 0) + windowMs - now());
  };

  const record = (): void => {
    starts[next] = now();
    next = (next + 1) % limit;
    if (count < limit) count++;
  };

  // One loop serves the queue, so concurrent waiters never race for the same slot.
  const pump = async (): Promise<void> => {
    if (pumping) return;
    pumping = true;
    try {
      while (waiters.length > 0) {
        const wait = msUntilFree();
        if (wait === 0) {
          const waiter = waiters.shift()!;
          waiter.signal?.removeEventListener('abort', waiter.onAbort);
          record();
          waiter.resolve();
          continue;
        }
        pumpWake = new AbortController();
        try {
          await sleep(Math.ceil(wait), pumpWake.signal);
        } catch (err) {
          // Woken because every waiter gave up: the loop condition ends the pump.
          if (!pumpWake.signal.aborted) {
            for (const waiter of waiters.splice(0)) waiter.reject(err);
          }
        } finally {
          pumpWake = null;
        }
      }
    } finally {
      pumping = false;
    }
  };

  return {
    acquire(signal?: AbortSignal): Promise<void> {
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (waiters.length === 0 && msUntilFree() === 0) {
        record();
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          resolve,
          reject,
          signal,
          onAbort: () => {
            const index = waiters.indexOf(waiter);
            if (index !== -1) waiters.splice(index, 1);
            reject(signal?.reason);
            // Do not keep the process alive for a window nobody waits for any more.
            if (waiters.length === 0) pumpWake?.abort();
          },
        };
        signal?.addEventListener('abort', waiter.onAbort, { once: true });
        waiters.push(waiter);
        void pump();
      });
    },
  };
}
