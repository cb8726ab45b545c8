/**
 * When a failed Luma request is worth sending again in this process, and how long to wait
 * first. A blip (a 5xx, a reset connection, a timeout) retried here costs one more request;
 * left to SQS it costs the visibility timeout and a restart of the event from page 1,
 * every page again against the rate budget.
 */

/**
 * Statuses that say "not now" rather than "never": 408 Request Timeout, 425 Too Early,
 * 429 Too Many Requests (handled with its own counter, see luma.ts) and every 5xx.
 */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || (status >= 500 && status <= 599);
}

export interface BackoffOptions {
  /** The ceiling of the first retry's wait; it doubles per retry. */
  baseMs: number;
  /** The largest ceiling. */
  maxMs: number;
}

/**
 * Exponential backoff with full jitter: a uniformly random wait below
 * min(maxMs, baseMs * 2^(retry - 1)). Full jitter spreads the retries of many syncs that
 * failed together (Luma went down for all of them at once) instead of bunching them
 * into waves that hit it together again.
 */
export function backoffMs(retry: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/** A Retry-After beyond this is not believed; the caller's fallback is used instead. */
export const MAX_RETRY_AFTER_SECONDS = 3600;

/**
 * Retry-After (RFC 9110: seconds or an HTTP date) in milliseconds; `fallbackMs` when the
 * header is absent, unreadable, in the past or beyond MAX_RETRY_AFTER_SECONDS.
 */
export function retryAfterMs(header: string | undefined, fallbackMs: number, now: () => number = Date.now): number {
  if (header !== undefined && header.trim() !== '') {
    const text = header.trim();
    const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : (Date.parse(text) - now()) / 1000;
    if (Number.isFinite(seconds) && seconds >= 0 && seconds <= MAX_RETRY_AFTER_SECONDS) {
      return Math.ceil(seconds * 1000);
    }
  }
  return fallbackMs;
}
