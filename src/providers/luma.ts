import { setTimeout as delay } from 'node:timers/promises';
import got, { type Got, type Response } from 'got';
import type { Config } from '../config.ts';
import { PermanentError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type GuestPage, invalidPage, LumaError, parseGuestPage } from './luma-page.ts';
import type { RequestBudget } from './rate-limit.ts';
import type { FetchSummary, GuestBatch, GuestFetchOptions, GuestProvider } from './types.ts';

export type LumaConfig = Config['luma'];

export interface LumaProviderDeps {
  /** A client from createLumaClient; made from `config` when absent. */
  http?: Got;
  config: LumaConfig;
  /** Every request, retries included, asks this budget first. */
  limiter: RequestBudget;
  log: Logger;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Called for every 429 answer (for the rate-limited metric). */
  onRateLimited?: () => void;
  /** Called for every request sent (for the requests metric). */
  onRequest?: () => void;
}

/** A Retry-After beyond this is not believed; the configured wait is used instead. */
const MAX_RETRY_AFTER_SECONDS = 3600;
const MAX_DETAIL = 100;

/**
 * The got instance for Luma. Retries are off and HTTP errors do not throw: the provider
 * owns both, because every retry must pass through the shared request budget and wait
 * through an injectable sleep, which got's own retry loop and hooks cannot do.
 * Redirects are not followed so the API key is never sent to another host.
 */
export function createLumaClient(config: Pick<LumaConfig, 'apiUrl' | 'apiKey' | 'requestTimeoutMs'>): Got {
  return got.extend({
    prefixUrl: config.apiUrl,
    headers: { 'x-luma-api-key': config.apiKey, accept: 'application/json' },
    timeout: { request: config.requestTimeoutMs },
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
    responseType: 'text',
  });
}

interface PageRequest {
  eventUid: string;
  externalEventId: string;
  page: number;
  cursor: string | null;
  signal: AbortSignal;
}

/** The Luma guest-list adapter. Reads both endpoint generations; see luma-page.ts. */
export function createLumaProvider(deps: LumaProviderDeps): GuestProvider {
  const { config, limiter, log } = deps;
  const http = deps.http ?? createLumaClient(config);
  const sleep = deps.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }));
  // got refuses a path with a leading slash when prefixUrl is set.
  const path = config.guestsPath.replace(/^\/+/, '');

  async function fetchPage(req: PageRequest): Promise<GuestPage> {
    const searchParams: Record<string, string> = {
      event_id: req.externalEventId,
      approval_status: 'approved',
      pagination_limit: String(config.pageSize),
    };
    if (req.cursor !== null) searchParams.pagination_cursor = req.cursor;

    for (let attempt = 1; ; attempt++) {
      await limiter.acquire(req.signal);
      deps.onRequest?.();
      const started = performance.now();
      let response: Response<string>;
      try {
        response = await http.get(path, { searchParams, signal: req.signal, responseType: 'text' });
      } catch (err) {
        throw requestFailure(err, req);
      }
      const status = response.statusCode;
      if (status >= 200 && status < 300) {
        const parsed = parseGuestPage(response.body, req);
        const ms = Math.round(performance.now() - started);
        log.debug({ eventUid: req.eventUid, page: req.page, guests: parsed.guests.length, ms }, 'luma page fetched');
        return parsed;
      }
      if (status !== 429) throw statusFailure(status, response.body, req);

      deps.onRateLimited?.();
      // attempt counts requests; rateLimitRetries counts the ones after the first.
      if (attempt > config.rateLimitRetries) {
        throw new LumaError(
          'luma_rate_limited',
          `Luma kept answering 429 for event ${req.eventUid}, page ${req.page} after ${attempt} attempts`,
        );
      }
      const waitMs = retryAfterMs(response.headers['retry-after'], config.rateLimitWaitSeconds);
      log.warn({ eventUid: req.eventUid, page: req.page, attempt, waitMs }, 'luma rate limited');
      try {
        await sleep(waitMs, req.signal);
      } catch (err) {
        throw req.signal.aborted ? req.signal.reason : err;
      }
    }
  }

  function requestFailure(err: unknown, req: PageRequest): unknown {
    if (req.signal.aborted) return req.signal.reason;
    const code = (err as { code?: unknown } | null)?.code;
    // got's errors carry the request options, headers and API key included: keep only
    // the name, code and message, with the key scrubbed in case a message ever quotes it.
    const cause = new Error(scrub(`${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`));
    if (typeof code === 'string') Object.assign(cause, { code });
    if (code === 'ETIMEDOUT') {
      return new LumaError(
        'luma_timeout',
        `Luma did not answer within ${config.requestTimeoutMs} ms for event ${req.eventUid}, page ${req.page}`,
        { cause },
      );
    }
    const what = typeof code === 'string' ? ` (${code})` : '';
    return new LumaError('luma_unavailable', `Luma request failed${what} for event ${req.eventUid}, page ${req.page}`, {
      cause,
    });
  }

  function statusFailure(status: number, body: string, req: PageRequest): Error {
    const where = `for event ${req.eventUid}, page ${req.page}`;
    if (status === 401 || status === 403) {
      return new PermanentError('luma_auth', `Luma rejected the API key (HTTP ${status}) ${where}`);
    }
    if (status === 404) {
      return new PermanentError(
        'luma_event_not_found',
        `Luma does not know event ${req.externalEventId} (HTTP 404) ${where}`,
      );
    }
    if (status >= 400 && status < 500) {
      const detail = errorDetail(body);
      return new PermanentError('luma_rejected', `Luma rejected the request (HTTP ${status}${detail}) ${where}`);
    }
    // 5xx, and 1xx/3xx which this API never sends on purpose (redirects are not followed).
    return new LumaError('luma_unavailable', `Luma answered HTTP ${status} ${where}`);
  }

  /** Luma's own error message, bounded and scrubbed; no body is ever quoted whole. */
  function errorDetail(body: string): string {
    if (body.length > 100_000) return '';
    try {
      const parsed = JSON.parse(body) as { message?: unknown; error?: unknown } | null;
      const text = typeof parsed?.message === 'string' ? parsed.message : parsed?.error;
      if (typeof text !== 'string' || text.trim() === '') return '';
      const clean = scrub(text.replace(/\p{Cc}/gu, ' ').trim());
      return `: ${clean.length > MAX_DETAIL ? `${clean.slice(0, MAX_DETAIL)}…` : clean}`;
    } catch {
      return '';
    }
  }

  function scrub(text: string): string {
    return config.apiKey.length >= 4 ? text.split(config.apiKey).join('[redacted]') : text;
  }

  return {
    providerType: 'LUMA',

    isConfigured: () => config.apiKey.trim() !== '',

    async fetchGuestsInBatches(onBatch: (batch: GuestBatch) => Promise<void>, options: GuestFetchOptions) {
      const { eventUid, externalEventId } = options;
      options.signal?.throwIfAborted();
      // Aborts the look-ahead request when onBatch fails, as well as on the caller's signal.
      const stop = new AbortController();
      const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
      const cursorPages = new Map<string, number>();
      const summary: FetchSummary = { pages: 0, fetched: 0, skipped: 0 };

      let page = 1;
      let pending = fetchPage({ eventUid, externalEventId, page, cursor: null, signal });
      try {
        for (;;) {
          const current = await pending;
          let next: Promise<GuestPage> | null = null;
          if (current.hasMore) {
            const cursor = current.nextCursor;
            const ctx = { eventUid, page };
            if (cursor === null) throw invalidPage(ctx, '"has_more" is true but there is no "next_cursor"');
            const seenOn = cursorPages.get(cursor);
            if (seenOn !== undefined) throw invalidPage(ctx, `"next_cursor" repeats the cursor of page ${seenOn}`);
            if (page >= config.maxPages) {
              throw invalidPage(ctx, `the list goes on past LUMA_MAX_PAGES (${config.maxPages}) pages`);
            }
            cursorPages.set(cursor, page);
            // Look-ahead: page N+1 downloads while onBatch handles page N.
            next = fetchPage({ eventUid, externalEventId, page: page + 1, cursor, signal });
            // Observed here so an onBatch failure cannot leave it as an unhandled rejection;
            // it is still awaited (and its error thrown) on the next turn.
            next.catch(() => {});
          }
          summary.pages++;
          summary.fetched += current.guests.length;
          summary.skipped += current.skipped;
          await onBatch({ page, guests: current.guests, skipped: current.skipped });
          if (next === null) return summary;
          pending = next;
          page++;
        }
      } catch (err) {
        stop.abort();
        throw err;
      }
    },
  };
}

/** Retry-After in seconds or as an HTTP date; the fallback when absent or not believable. */
function retryAfterMs(header: string | undefined, fallbackSeconds: number): number {
  if (header !== undefined && header.trim() !== '') {
    const text = header.trim();
    const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : (Date.parse(text) - Date.now()) / 1000;
    if (Number.isFinite(seconds) && seconds >= 0 && seconds <= MAX_RETRY_AFTER_SECONDS) {
      return Math.ceil(seconds * 1000);
    }
  }
  return fallbackSeconds * 1000;
}
