/**
 * Transient Luma failures retried in place (issue 11, items 1 and 2): which answers are
 * retried, how long the provider waits, that every attempt passes the request budget, and
 * that an expired cursor restarts the list once. msw answers in the process; the sleep is
 * recorded, not waited, and the jitter is pinned.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { HttpResponse } from 'msw';
import type { Config } from '../../src/config/config.ts';
import { errorKind, isPermanent, PermanentError, SyncDeferredError } from '../../src/errors.ts';
import { createLumaHandlers, type LumaSimulatorOptions } from '../../src/local/luma-simulator.ts';
import { silentLogger } from '../../src/log.ts';
import { createLumaProvider } from '../../src/providers/luma.ts';
import {
  API_KEY,
  captureLogs,
  collectBatches,
  countingBudget,
  EVENT,
  everythingIn,
  fakeSleep,
  INTERCEPT_ALL,
  interceptRequests,
  lumaConfig,
  rejectionOf,
} from './support.ts';

const server = interceptRequests();
const json = (body: unknown, init?: ResponseInit) => HttpResponse.json(body as never, init);

/** A simulated Luma whose `fault` sees the page number and that page's attempt number. */
function mount(
  fault: (pageNo: number, attempt: number) => Response | undefined,
  opts: Partial<LumaSimulatorOptions> = {},
) {
  const attempts = new Map<number, number>();
  const handlers = createLumaHandlers({
    apiKey: API_KEY,
    events: { 'evt-abc': { guestCount: 5 } },
    fault: (_request, pageNo) => {
      const attempt = (attempts.get(pageNo) ?? 0) + 1;
      attempts.set(pageNo, attempt);
      return fault(pageNo, attempt);
    },
    ...opts,
  });
  server.use(...handlers);
  return handlers.stats;
}

function provider(overrides: Partial<Config['luma']> = {}, log = silentLogger) {
  const sleep = fakeSleep();
  const budget = countingBudget();
  const retried: string[] = [];
  const luma = createLumaProvider({
    config: lumaConfig({ pageSize: 2, retries: 5, retryBaseMs: 100, retryMaxMs: 1_000, ...overrides }),
    limiter: budget,
    log,
    sleep: sleep.sleep,
    // Pinned jitter: every wait is half its ceiling.
    random: () => 0.5,
    onRetry: (kind) => retried.push(kind),
  });
  return { luma, sleep, budget, retried };
}

describe('Luma transient failures', () => {
  it('retries 5xx, 408 and 425 answers for the page that failed, with doubling jittered waits, and completes', async () => {
    const failures = [500, 502, 408, 425, 504];
    const stats = mount((pageNo, attempt) =>
      pageNo === 2 && attempt <= failures.length
        ? json({ message: 'blip' }, { status: failures[attempt - 1] })
        : undefined,
    );
    const logs = captureLogs();
    const p = provider({}, logs.log);
    const { batches, onBatch } = collectBatches();
    const summary = await p.luma.fetchGuestsInBatches(onBatch, EVENT);

    assert.deepEqual(summary, { pages: 3, fetched: 5, skipped: 0, unidentified: 0 });
    assert.deepEqual(
      batches.map((b) => b.page),
      [1, 2, 3],
      'page 2 was retried in place, not the list from page 1',
    );
    assert.equal(stats.requests, 3 + failures.length);
    assert.equal(p.budget.acquired, stats.requests, 'every attempt asked the request budget');
    // Ceilings 100, 200, 400, 800, then capped at 1,000; the pinned jitter takes half.
    assert.deepEqual(p.sleep.waits, [50, 100, 200, 400, 500]);
    assert.deepEqual(p.retried, Array(failures.length).fill('luma_unavailable'));
    const warnings = logs.entries().filter((e) => e.msg === 'luma request failed: retrying');
    assert.deepEqual(
      warnings.map((w) => [w.page, w.attempt, w.status, w.level]),
      failures.map((status, i) => [2, i + 1, status, 40]),
    );
  });

  it('spreads the waits over the whole backoff interval (full jitter)', async () => {
    mount((pageNo, attempt) => (pageNo === 1 && attempt <= 3 ? json({}, { status: 503 }) : undefined));
    const sleep = fakeSleep();
    const draws = [0, 0.999, 0.25];
    const luma = createLumaProvider({
      config: lumaConfig({ retries: 5, retryBaseMs: 1_000, retryMaxMs: 60_000 }),
      limiter: countingBudget(),
      log: silentLogger,
      sleep: sleep.sleep,
      random: () => draws.shift() ?? 0,
    });
    await luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT);
    assert.deepEqual(sleep.waits, [0, 1_998, 1_000]);
  });

  it('honours Retry-After on a 503 as on a 429', async () => {
    mount((pageNo, attempt) =>
      pageNo === 1 && attempt === 1 ? json({}, { status: 503, headers: { 'Retry-After': '7' } }) : undefined,
    );
    const p = provider();
    await p.luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT);
    assert.deepEqual(p.sleep.waits, [7_000]);
  });

  it('retries a dropped connection', async () => {
    // Timeouts, resets mid-body and huge bodies travel over real sockets: luma-bounded.test.ts.
    mount((pageNo, attempt) => (pageNo <= 2 && attempt === 1 ? HttpResponse.error() : undefined));
    const p = provider();
    const { batches, onBatch } = collectBatches();
    await p.luma.fetchGuestsInBatches(onBatch, EVENT);
    assert.deepEqual(
      batches.map((b) => b.page),
      [1, 2, 3],
    );
    assert.deepEqual(p.retried, ['luma_unavailable', 'luma_unavailable']);
  });

  it('gives up after LUMA_RETRIES retries with a retryable error that names the page and the attempts', async () => {
    const stats = mount(() => json({}, { status: 503 }));
    const p = provider({ retries: 2 });
    const err = await rejectionOf(p.luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT));
    assert.equal(stats.requests, 3);
    assert.equal(isPermanent(err), false);
    assert.equal(errorKind(err), 'luma_unavailable');
    assert.match(err.message, /HTTP 503 for event uid-event-1, page 1 \(gave up after 3 attempts\)/);
    assert.equal(p.sleep.waits.length, 2);
  });

  it('does not retry at all with LUMA_RETRIES=0', async () => {
    const stats = mount(() => json({}, { status: 500 }));
    const err = await rejectionOf(provider({ retries: 0 }).luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT));
    assert.equal(errorKind(err), 'luma_unavailable');
    assert.equal(stats.requests, 1);
  });

  it('retries a refused connection, then reports it with its code', async () => {
    // A port that was free a moment ago and has nobody listening now.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    server.close();
    try {
      const p = provider({ apiUrl: `http://127.0.0.1:${port}`, retries: 3 });
      const err = await rejectionOf(p.luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT));
      assert.equal(errorKind(err), 'luma_unavailable');
      assert.match(err.message, /ECONNREFUSED.*page 1 \(gave up after 4 attempts\)/);
      assert.equal(p.budget.acquired, 4);
      assert.ok(!everythingIn(err).includes(API_KEY));
    } finally {
      server.listen(INTERCEPT_ALL);
    }
  });
});

describe('Luma error classes', () => {
  for (const status of [400, 409, 410, 422]) {
    it(`fails at once, permanently, on HTTP ${status} for page 1, naming the event, page and status`, async () => {
      const stats = mount(() => json({ message: 'no' }, { status }));
      const err = await rejectionOf(provider().luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT));
      assert.ok(err instanceof PermanentError);
      assert.equal(err.kind, 'luma_rejected');
      assert.match(err.message, new RegExp(`HTTP ${status}: no\\) for event uid-event-1, page 1$`));
      assert.equal(stats.requests, 1);
    });
  }

  it('reads the whole list again, once, when Luma rejects a cursor mid-list', async () => {
    const stats = mount((pageNo, attempt) =>
      pageNo === 3 && attempt === 1 ? json({ message: 'Invalid pagination_cursor' }, { status: 400 }) : undefined,
    );
    const logs = captureLogs();
    const p = provider({}, logs.log);
    const { batches, onBatch } = collectBatches();
    let restarts = 0;
    const summary = await p.luma.fetchGuestsInBatches(onBatch, { ...EVENT, onRestart: () => restarts++ });
    assert.deepEqual(
      batches.map((b) => b.page),
      [1, 2, 1, 2, 3],
    );
    assert.equal(restarts, 1, 'the caller was told before page 1 came again');
    assert.deepEqual(
      summary,
      { pages: 3, fetched: 5, skipped: 0, unidentified: 0 },
      'the summary counts the complete pass',
    );
    assert.equal(stats.requests, 6);
    const warning = logs.entries().find((e) => e.msg === 'luma rejected the cursor: reading the list again');
    assert.equal(warning?.page, 3);
  });

  it('fails permanently when the cursor is rejected again after the restart', async () => {
    const stats = mount((pageNo) => (pageNo === 3 ? json({ message: 'cursor expired' }, { status: 410 }) : undefined));
    const err = await rejectionOf(provider().luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT));
    assert.ok(err instanceof PermanentError);
    assert.equal(err.kind, 'luma_cursor_rejected');
    assert.match(err.message, /HTTP 410: cursor expired\) for event uid-event-1, page 3$/);
    assert.equal(stats.requests, 6, 'pages 1-3 twice');
  });

  it('treats a 404 on page 1 as an event Luma does not know, and a 404 mid-list as a stale cursor', async () => {
    const unknown = mount(() => json({ message: 'Event not found' }, { status: 404 }));
    const first = await rejectionOf(provider().luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT));
    assert.equal(errorKind(first), 'luma_event_not_found');
    assert.ok(isPermanent(first));
    assert.equal(unknown.requests, 1);

    server.resetHandlers();
    mount((pageNo, attempt) => (pageNo === 2 && attempt === 1 ? json({}, { status: 404 }) : undefined));
    const { batches, onBatch } = collectBatches();
    await provider().luma.fetchGuestsInBatches(onBatch, EVENT);
    assert.deepEqual(
      batches.map((b) => b.page),
      [1, 1, 2, 3],
    );
  });

  for (const status of [429, 503]) {
    it(`stops with a deferral instead of sleeping through a ${status} Retry-After beyond LUMA_MAX_WAIT_IN_SYNC_SECONDS`, async () => {
      const stats = mount((pageNo) =>
        pageNo === 2 ? json({ message: 'later' }, { status, headers: { 'retry-after': '900' } }) : undefined,
      );
      const p = provider({ maxWaitInSyncSeconds: 120 });
      const { batches, onBatch } = collectBatches();
      const err = await rejectionOf(p.luma.fetchGuestsInBatches(onBatch, EVENT));

      assert.ok(err instanceof SyncDeferredError, String(err));
      assert.equal(err.delaySeconds, 900);
      assert.equal(isPermanent(err), false);
      assert.equal(errorKind(err), 'sync_deferred');
      assert.match(err.message, /page 2: more than LUMA_MAX_WAIT_IN_SYNC_SECONDS \(120\)/);
      assert.deepEqual(p.sleep.waits, [], 'nothing slept');
      assert.equal(stats.requests, 2, 'no request after the long answer');
      assert.deepEqual(
        batches.map((b) => b.page),
        [1],
      );
    });
  }

  it('sleeps through a Retry-After up to the bound as before', async () => {
    mount((pageNo, attempt) =>
      pageNo === 2 && attempt === 1 ? json({}, { status: 429, headers: { 'retry-after': '120' } }) : undefined,
    );
    const p = provider({ maxWaitInSyncSeconds: 120 });
    const { onBatch } = collectBatches();
    await p.luma.fetchGuestsInBatches(onBatch, EVENT);
    assert.deepEqual(p.sleep.waits, [120_000]);
  });
});
