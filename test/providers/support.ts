import { Writable } from 'node:stream';
import { after, afterEach, before } from 'node:test';
import { inspect } from 'node:util';
import { setupServer } from 'msw/node';
import type { Config } from '../../src/config/config.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import type { RequestBudget } from '../../src/providers/rate-limit.ts';
import type { GuestBatch } from '../../src/providers/types.ts';

/** A key distinctive enough that any leak of it into a message or log line is found. */
export const API_KEY = 'lk_live_S3CRET-do-not-log-0123456789';
export const BASE_URL = 'https://public-api.luma.test';

/** The event the msw-served provider tests sync: the simulated Luma knows `evt-abc`. */
export const EVENT = { eventUid: 'uid-event-1', externalEventId: 'evt-abc' };

/** msw's listen options here: a request no handler answers fails its test instead of reaching the network. */
export const INTERCEPT_ALL = { onUnhandledFrame: 'error' } as const;

/** An msw server for the calling file, listening from its start to its end; each test's handlers are dropped after it. */
export function interceptRequests() {
  const server = setupServer();
  before(() => server.listen(INTERCEPT_ALL));
  afterEach(() => server.resetHandlers());
  after(() => server.close());
  return server;
}

export function lumaConfig(overrides: Partial<Config['luma']> = {}): Config['luma'] {
  return {
    apiUrl: BASE_URL,
    apiKey: API_KEY,
    guestsPath: '/v1/event/get-guests',
    pageSize: 100,
    maxPages: 50,
    requestTimeoutMs: 2_000,
    rateLimitPerMinute: 1_000,
    rateLimitScope: 'process',
    rateLimitWindowMs: 60_000,
    rateLimitRetries: 3,
    rateLimitWaitSeconds: 60,
    // No deferral unless a test asks for one: Retry-After is believed up to an hour anyway.
    maxWaitInSyncSeconds: 3_600,
    retries: 3,
    retryBaseMs: 100,
    retryMaxMs: 1_000,
    maxResponseBytes: 4 * 1024 * 1024,
    ...overrides,
  };
}

/** A debug-level JSON logger whose lines are kept for assertions. */
export function captureLogs(): { log: Logger; lines: string[]; entries: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      callback();
    },
  });
  const log = createLogger({ level: 'debug', pretty: false, destination });
  return { log, lines, entries: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** A sleep that returns at once and records what it was asked to wait. */
export function fakeSleep(onSleep?: (ms: number) => void) {
  const waits: number[] = [];
  const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
    signal?.throwIfAborted();
    waits.push(ms);
    onSleep?.(ms);
  };
  return { sleep, waits };
}

/** A budget that never waits but counts every acquire. */
export function countingBudget(): RequestBudget & { acquired: number } {
  const budget = {
    acquired: 0,
    async acquire(signal?: AbortSignal) {
      signal?.throwIfAborted();
      budget.acquired++;
      return () => {};
    },
  };
  return budget;
}

/** An onBatch that keeps every batch. */
export function collectBatches() {
  const batches: GuestBatch[] = [];
  const onBatch = async (batch: GuestBatch) => {
    batches.push(batch);
  };
  return { batches, onBatch };
}

/** Everything an error carries, cause chain included, as text. */
export function everythingIn(err: unknown): string {
  return `${inspect(err, { depth: 8, showHidden: true })}\n${(err as Error)?.stack ?? ''}`;
}

export async function rejectionOf(promise: Promise<unknown>): Promise<Error & { kind?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { kind?: string };
  }
  throw new Error('expected the promise to reject');
}

export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
