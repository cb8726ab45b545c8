import { setTimeout as delay } from 'node:timers/promises';
import type { Got } from 'got';
import type { Config } from '../config/config.ts';
import { isPermanent, SyncDeferredError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type BoundedResponse, getBounded } from './bounded-body.ts';
import { CURSOR_REJECTED, type Failure, requestFailure, statusFailure } from './luma-failures.ts';
import { type GuestPage, invalidPage, LumaError, parseGuestPage } from './luma-page.ts';
import type { RequestBudget } from './rate-limit.ts';
import { backoffMs, retryAfterMs } from './retry-policy.ts';
import type { FetchSummary, GuestBatch, GuestFetchOptions, GuestProvider } from './types.ts';

export type LumaConfig = Config['luma'];

export interface LumaProviderDeps {
  /** A client from createLumaClient; made from `config`, on the first request, when absent. */
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
  /** Called for every transient failure retried in the process (for the retries metric). */
  onRetry?: (kind: string) => void;
  /** The jitter source of the backoff; Math.random unless a test pins it. */
  random?: () => number;
}

/**
 * The got instance for Luma. Retries are off and HTTP errors do not throw: the provider
 * owns both, because every retry must pass through the shared request budget and wait
 * through an injectable sleep, which got's own retry loop and hooks cannot do. Bodies are
 * read as bounded streams (bounded-body.ts).
 * Redirects are not followed so the API key is never sent to another host.
 *
 * got is imported here, when a client is first needed, not when the worker starts: got and
 * its dependencies (http2, an Intl.ListFormat built at import) hold ~11 MB for the life of the
 * process, and a daemon at rest never calls Luma (docs/memory.md).
 */
export async function createLumaClient(
  config: Pick<LumaConfig, 'apiUrl' | 'apiKey' | 'requestTimeoutMs'>,
): Promise<Got> {
  const { default: got } = await import('got');
  return got.extend({
    prefixUrl: config.apiUrl,
    headers: { 'x-luma-api-key': config.apiKey, accept: 'application/json' },
    timeout: { request: config.requestTimeoutMs },
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
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
  let http = deps.http;
  let loading: Promise<Got> | undefined;
  // The first request loads got (createLumaClient); later ones start without an await, so the
  // look-ahead's request is under way before the page before it is handed over.
  const client = async (): Promise<Got> => {
    loading ??= createLumaClient(config);
    http = await loading;
    return http;
  };
  const sleep = deps.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }));
  const random = deps.random ?? Math.random;
  const backoff = { baseMs: config.retryBaseMs, maxMs: config.retryMaxMs };
  // got refuses a path with a leading slash when prefixUrl is set.
  const path = config.guestsPath.replace(/^\/+/, '');

  /**
   * One page, retried in place while the failure is transient: every attempt asks the
   * request budget first, 429s count against LUMA_RATE_LIMIT_RETRIES, every other
   * transient failure against LUMA_RETRIES. Only when those run out does the sync fail.
   */
  async function fetchPage(req: PageRequest): Promise<GuestPage> {
    const searchParams: Record<string, string> = {
      event_id: req.externalEventId,
      approval_status: 'approved',
      pagination_limit: String(config.pageSize),
    };
    if (req.cursor !== null) searchParams.pagination_cursor = req.cursor;
    let rateLimited = 0;
    let retried = 0;
    const luma = http ?? (await client());

    /** Throws `failure`'s error unless it is transient and retries are left; else waits. */
    const retryOrThrow = async (failure: Failure, attempt: number, status?: number, retryAfter?: string) => {
      const { error, transient } = failure;
      if (!transient) throw error;
      if (++retried > config.retries) {
        error.message += ` (gave up after ${attempt} attempts)`;
        throw error;
      }
      const kind = (error as LumaError).kind;
      deps.onRetry?.(kind);
      // A 503 may say when to come back, as a 429 does; otherwise back off with jitter.
      const waitMs = retryAfterMs(retryAfter, backoffMs(retried, backoff, random));
      const fields = { eventUid: req.eventUid, page: req.page, attempt, kind, status, waitMs, reason: error.message };
      deferIfTooLong(waitMs, req, `Luma answered HTTP ${status ?? kind} and asked to wait`);
      log.warn(fields, 'luma request failed: retrying');
      await pause(waitMs, req.signal);
    };

    for (let attempt = 1; ; attempt++) {
      const done = await limiter.acquire(req.signal);
      deps.onRequest?.();
      const started = performance.now();
      let response: BoundedResponse;
      try {
        // The request's slot counts until Luma has it for certain: its answer's headers have
        // arrived (or it failed); from then on, one window (rate-limit.ts).
        response = await getBounded(
          luma,
          path,
          { searchParams, signal: req.signal, onResponse: done },
          config.maxResponseBytes,
        );
      } catch (err) {
        done();
        if (req.signal.aborted) throw req.signal.reason;
        await retryOrThrow(requestFailure(err, req, config), attempt);
        continue;
      }
      const status = response.statusCode;
      if (status >= 200 && status < 300) {
        const parsed = parseGuestPage(response.body, req);
        const ms = Math.round(performance.now() - started);
        log.debug({ eventUid: req.eventUid, page: req.page, guests: parsed.guests.length, ms }, 'luma page fetched');
        return parsed;
      }
      if (status !== 429) {
        const retryAfter = status === 503 ? response.headers['retry-after'] : undefined;
        await retryOrThrow(statusFailure(status, response.body, req, config), attempt, status, retryAfter);
        continue;
      }

      deps.onRateLimited?.();
      // attempt counts requests; rateLimitRetries counts the 429s retried.
      if (++rateLimited > config.rateLimitRetries) {
        throw new LumaError(
          'luma_rate_limited',
          `Luma kept answering 429 for event ${req.eventUid}, page ${req.page} after ${attempt} attempts`,
        );
      }
      const waitMs = retryAfterMs(response.headers['retry-after'], config.rateLimitWaitSeconds * 1000);
      deferIfTooLong(waitMs, req, 'Luma answered 429 and asked to wait');
      log.warn({ eventUid: req.eventUid, page: req.page, attempt, waitMs }, 'luma rate limited');
      await pause(waitMs, req.signal);
    }
  }

  /**
   * A wait longer than LUMA_MAX_WAIT_IN_SYNC_SECONDS is not slept through: it would hold a
   * consumer slot and the event's claim doing nothing. The sync stops instead and its
   * message comes back after the wait (SyncDeferredError); the checkpoint keeps its place.
   */
  function deferIfTooLong(waitMs: number, req: PageRequest, what: string): void {
    if (waitMs <= config.maxWaitInSyncSeconds * 1000) return;
    const seconds = Math.ceil(waitMs / 1000);
    throw new SyncDeferredError(
      `${what} ${seconds} s for event ${req.eventUid}, page ${req.page}: more than LUMA_MAX_WAIT_IN_SYNC_SECONDS (${config.maxWaitInSyncSeconds}); the sync resumes after the wait`,
      seconds,
    );
  }

  /** The injectable sleep; an abort rejects with the signal's reason. */
  async function pause(ms: number, signal: AbortSignal): Promise<void> {
    try {
      await sleep(ms, signal);
    } catch (err) {
      throw signal.aborted ? signal.reason : err;
    }
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
      // The cursors seen, by the page that returned them; a resumed read knows its start
      // cursor came from the page before, so a page handing it back is caught here too.
      let cursorPages = new Map<string, number>(options.start ? [[options.start.cursor, options.start.page - 1]] : []);
      let summary: FetchSummary = { pages: 0, fetched: 0, skipped: 0, unidentified: 0 };
      let restarted = false;

      let page = options.start?.page ?? 1;
      let pending = fetchPage({ eventUid, externalEventId, page, cursor: options.start?.cursor ?? null, signal });
      try {
        for (;;) {
          let current: GuestPage;
          try {
            current = await pending;
          } catch (err) {
            // An expired cursor: the list is read again from the start, once. Pages already
            // handed over are handed over again, which the sync's idempotent writes absorb;
            // the summary counts the complete pass only.
            if (restarted || !isPermanent(err) || err.kind !== CURSOR_REJECTED) throw err;
            restarted = true;
            log.warn({ eventUid, page, reason: err.message }, 'luma rejected the cursor: reading the list again');
            cursorPages = new Map();
            summary = { pages: 0, fetched: 0, skipped: 0, unidentified: 0 };
            options.onRestart?.();
            page = 1;
            pending = fetchPage({ eventUid, externalEventId, page, cursor: null, signal });
            continue;
          }
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
          summary.unidentified += current.skipped - current.skippedGuestIds.length;
          await onBatch({
            page,
            guests: current.guests,
            skipped: current.skipped,
            nextCursor: next ? current.nextCursor : null,
            skippedGuestIds: current.skippedGuestIds,
          });
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
