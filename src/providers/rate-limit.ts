import { setTimeout as delay } from 'node:timers/promises';

/** Called once the request a grant was for has ended: its answer arrived, or it failed. */
export type RequestDone = () => void;

/**
 * Where requests to a rate-limited API ask for permission to start. The process-wide
 * limiter below is one implementation; shared-budget.ts shares one through the database
 * between the replicas on one Luma key.
 */
export interface RequestBudget {
  /**
   * Resolves when one more request may start, with the function to call when that
   * request has ended; rejects with `signal.reason` if aborted first.
   */
  acquire(signal?: AbortSignal): Promise<RequestDone>;
}

export interface RateLimiterOptions {
  /** Most requests that may reach the server in any window of `windowMs`. */
  perMinute: number;
  /** Window length; 60 s in production, scaled down by benchmarks and tests. */
  windowMs?: number;
  /**
   * The longest a request can last (its timeout): a grant whose end is never reported
   * counts as a request that ended this long after it was granted. Default one minute.
   */
  holdMs?: number;
  /** Extra spacing added to every window; none by default (see below why none is needed). */
  guardMs?: number;
  /** A monotonic clock in milliseconds. */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export const DEFAULT_HOLD_MS = 60_000;

interface Waiter {
  resolve: (done: RequestDone) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/** One granted request: in flight until `endedAt` is set. */
interface Grant {
  grantedAt: number;
  endedAt: number | undefined;
}

/**
 * A sliding-window limiter that counts each request from its grant until one window
 * after it ended. A 429 from Luma blocks the key for a whole minute, so the guarantee is
 * strict for every window, not an average: at most `perMinute` requests reach the server
 * in any window of `windowMs`, however long a request takes to get there.
 *
 * Why the end and not the grant: the server counts arrivals, and between a grant and the
 * request's arrival lie the event loop's queue, the HTTP client's work and the server's
 * own scheduling. On a loaded machine that gap measured 30-700 ms (docs/performance-budget.md),
 * so a slot granted again one window after the last grant could arrive inside the server's
 * window of the request it replaced. A request has certainly arrived by the time it has
 * ended, so a slot granted one window after that end arrives at least one window after
 * the arrival it replaces, whatever the delays: no guard is needed.
 *
 * Bursts up to the budget are allowed because Luma counts requests, not their spacing.
 * Waiters are served in arrival order so one busy sync cannot starve another. Create one
 * per process and share it between all concurrent syncs.
 */
export function createRateLimiter(options: RateLimiterOptions): RequestBudget {
  const limit = options.perMinute;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('perMinute must be a whole number of at least 1');
  const windowMs = (options.windowMs ?? 60_000) + (options.guardMs ?? 0);
  const holdMs = options.holdMs ?? DEFAULT_HOLD_MS;
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }));

  const grants = new Set<Grant>();
  const waiters: Waiter[] = [];
  let pumping = false;
  let pumpWake: AbortController | null = null;

  /**
   * When a grant leaves the window: one window after its end. A request still in flight
   * cannot leave before one window from now (it could end this instant), nor later than
   * one window after its hold ran out.
   */
  const leavesAt = (grant: Grant, at: number): number =>
    Math.min(grant.endedAt ?? Math.max(at, grant.grantedAt), grant.grantedAt + holdMs) + windowMs;

  /** 0 when a request may start now, else a lower bound of the wait (asked again then). */
  const msUntilFree = (): number => {
    const at = now();
    const leaving: number[] = [];
    for (const grant of grants) {
      const leaves = leavesAt(grant, at);
      if (leaves <= at) grants.delete(grant);
      else leaving.push(leaves);
    }
    if (leaving.length < limit) return 0;
    leaving.sort((a, b) => a - b);
    return Math.max(1, (leaving[leaving.length - limit] ?? at) - at);
  };

  const grant = (): RequestDone => {
    const entry: Grant = { grantedAt: now(), endedAt: undefined };
    grants.add(entry);
    return () => {
      if (entry.endedAt !== undefined) return;
      entry.endedAt = Math.min(now(), entry.grantedAt + holdMs);
      // The pump slept on a lower bound for this slot: the exact wait is known now.
      if (waiters.length > 0) pumpWake?.abort();
    };
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
          waiter.resolve(grant());
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
    acquire(signal?: AbortSignal): Promise<RequestDone> {
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (waiters.length === 0 && msUntilFree() === 0) return Promise.resolve(grant());
      return new Promise<RequestDone>((resolve, reject) => {
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
