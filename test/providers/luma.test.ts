import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { HttpResponse, http } from 'msw';
import type { Config } from '../../src/config/config.ts';
import { errorKind, isPermanent, PermanentError } from '../../src/errors.ts';
import {
  CURRENT_GUESTS_PATH,
  createLumaHandlers,
  LEGACY_GUESTS_PATH,
  type LumaSimulatorOptions,
  type SimGuest,
} from '../../src/local/luma-simulator.ts';
import { type Logger, silentLogger } from '../../src/log.ts';
import { createLumaProvider } from '../../src/providers/luma.ts';
import type { RequestBudget } from '../../src/providers/rate-limit.ts';
import type { GuestBatch } from '../../src/providers/types.ts';
import {
  API_KEY,
  captureLogs,
  collectBatches,
  countingBudget,
  deferred,
  EVENT,
  everythingIn,
  fakeSleep,
  interceptRequests,
  lumaConfig,
  rejectionOf,
} from './support.ts';

const server = interceptRequests();

/** Mounts a simulated Luma for this test; returns its request statistics. */
function mount(opts: Partial<LumaSimulatorOptions> = {}) {
  const handlers = createLumaHandlers({ apiKey: API_KEY, events: { 'evt-abc': { guestCount: 3 } }, ...opts });
  server.use(...handlers);
  return handlers.stats;
}

function provider(
  overrides: Partial<Config['luma']> = {},
  deps: { log?: Logger; limiter?: RequestBudget; sleep?: ReturnType<typeof fakeSleep>['sleep'] } = {},
) {
  const rateLimited: number[] = [];
  let requests = 0;
  const luma = createLumaProvider({
    config: lumaConfig(overrides),
    limiter: deps.limiter ?? countingBudget(),
    log: deps.log ?? silentLogger,
    sleep: deps.sleep ?? fakeSleep().sleep,
    onRateLimited: () => rateLimited.push(Date.now()),
    onRequest: () => requests++,
  });
  return { luma, rateLimited, requests: () => requests };
}

/** A raw page answer on a guest-list path, for fault injection. */
const page = (body: unknown, init?: ResponseInit) => HttpResponse.json(body as never, init);

describe('Luma provider', () => {
  it('is the LUMA provider and is configured only with an API key', () => {
    assert.equal(provider().luma.providerType, 'LUMA');
    assert.equal(provider().luma.isConfigured(), true);
    assert.equal(provider({ apiKey: '' }).luma.isConfigured(), false);
  });

  it('reads the legacy endpoint: wrapped entries with the old field names', async () => {
    const guests: SimGuest[] = [
      { id: 'gst-1', email: 'Ada@Example.com ', name: 'Ada Lovelace' },
      { id: 'gst-2', email: 'bob@example.com', firstName: 'Bob', lastName: 'Byte' },
      { id: 'gst-3', email: 'pending@example.com', approvalStatus: 'pending_approval' },
    ];
    const stats = mount({ events: { 'evt-abc': guests } });
    const { batches, onBatch } = collectBatches();
    const summary = await provider().luma.fetchGuestsInBatches(onBatch, EVENT);
    assert.deepEqual(summary, { pages: 1, fetched: 2, skipped: 0, unidentified: 0 });
    assert.deepEqual(batches[0]?.guests, [
      {
        externalGuestId: 'gst-1',
        email: 'ada@example.com',
        name: 'Ada Lovelace',
        approvalStatus: 'approved',
        registeredAt: null,
      },
      {
        externalGuestId: 'gst-2',
        email: 'bob@example.com',
        name: 'Bob Byte',
        approvalStatus: 'approved',
        registeredAt: null,
      },
    ]);
    assert.deepEqual(stats.byPath, { legacy: 1, current: 0 });
  });

  it('reads the current endpoint: flat entries with the new field names', async () => {
    const stats = mount({
      events: { 'evt-abc': [{ id: 'gst-9', email: 'g@x.io', firstName: 'Grace', lastName: 'Hopper' }] },
    });
    const { batches, onBatch } = collectBatches();
    await provider({ guestsPath: CURRENT_GUESTS_PATH }).luma.fetchGuestsInBatches(onBatch, EVENT);
    assert.deepEqual(batches[0]?.guests[0], {
      externalGuestId: 'gst-9',
      email: 'g@x.io',
      name: 'Grace Hopper',
      approvalStatus: 'approved',
      registeredAt: null,
    });
    assert.deepEqual(stats.byPath, { legacy: 0, current: 1 });
  });

  it('works under an older host prefix such as /public', async () => {
    mount();
    const { onBatch } = collectBatches();
    const summary = await provider({ apiUrl: 'https://api.lu.ma/public' }).luma.fetchGuestsInBatches(onBatch, EVENT);
    assert.equal(summary.fetched, 3);
  });

  it('asks for approved guests, the configured page size, and the cursor when continuing', async () => {
    const seen: URLSearchParams[] = [];
    mount({
      events: { 'evt-abc': { guestCount: 5 } },
      fault: (request) => {
        seen.push(new URL(request.url).searchParams);
        return undefined;
      },
    });
    await provider({ pageSize: 2 }).luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT);
    assert.equal(seen.length, 3);
    for (const query of seen) {
      assert.equal(query.get('event_id'), 'evt-abc');
      assert.equal(query.get('approval_status'), 'approved');
      assert.equal(query.get('pagination_limit'), '2');
    }
    assert.equal(seen[0]?.get('pagination_cursor'), null);
    assert.ok(seen[1]?.get('pagination_cursor'));
    assert.notEqual(seen[1]?.get('pagination_cursor'), seen[2]?.get('pagination_cursor'));
  });

  it('counts skipped entries per batch and in the summary, and keeps the guest id of one skipped for its email', async () => {
    server.use(
      http.get(`*${LEGACY_GUESTS_PATH}`, () =>
        page({
          entries: [
            { api_id: 'gst-1', guest: { api_id: 'gst-1', email: 'ok@x.io' } },
            { api_id: 'gst-2', guest: { api_id: 'gst-2', email: 'not-an-email' } },
            { guest: { email: 'no-id@x.io' } },
            { id: 'gst-4', user_email: 'flat@x.io' },
          ],
          has_more: false,
        }),
      ),
    );
    const { batches, onBatch } = collectBatches();
    const summary = await provider().luma.fetchGuestsInBatches(onBatch, EVENT);
    assert.deepEqual(summary, { pages: 1, fetched: 2, skipped: 2, unidentified: 1 });
    assert.equal(batches[0]?.skipped, 2);
    assert.deepEqual(batches[0]?.skippedGuestIds, ['gst-2'], 'the entry without an id has none to keep');
  });

  it('pages through a long list, numbering batches from 1, with the server capping the page size', async () => {
    const stats = mount({ events: { 'evt-abc': { guestCount: 250 } }, maxPageSize: 100 });
    const { batches, onBatch } = collectBatches();
    const summary = await provider({ pageSize: 500 }).luma.fetchGuestsInBatches(onBatch, EVENT);
    assert.deepEqual(summary, { pages: 3, fetched: 250, skipped: 0, unidentified: 0 });
    assert.deepEqual(
      batches.map((b) => [b.page, b.guests.length]),
      [
        [1, 100],
        [2, 100],
        [3, 50],
      ],
    );
    assert.equal(new Set(batches.flatMap((b) => b.guests.map((g) => g.externalGuestId))).size, 250);
    assert.equal(stats.requests, 3);
  });

  it('fetches page N+1 while onBatch handles page N, and never overlaps onBatch calls', async () => {
    const requested = [deferred(), deferred(), deferred(), deferred()];
    mount({
      events: { 'evt-abc': { guestCount: 8 } },
      onRequest: (_request, pageNo) => requested[pageNo - 1]?.resolve(),
    });
    let active = 0;
    let maxActive = 0;
    const pages: number[] = [];
    const onBatch = async (batch: GuestBatch) => {
      active++;
      maxActive = Math.max(maxActive, active);
      // Without look-ahead, page N+1 would not be requested until this returns: a deadlock
      // the race below turns into a failure.
      const next = requested[batch.page];
      if (next) {
        // A deadline only for the deadlock: generous, so a busy machine cannot trip it.
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('no look-ahead')), 30_000);
        });
        await Promise.race([next.promise, timeout]).finally(() => clearTimeout(timer));
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
      pages.push(batch.page);
      active--;
    };
    const summary = await provider({ pageSize: 2 }).luma.fetchGuestsInBatches(onBatch, EVENT);
    assert.equal(summary.pages, 4);
    assert.deepEqual(pages, [1, 2, 3, 4]);
    assert.equal(maxActive, 1);
  });

  it('sends every request, retries included, through the request budget', async () => {
    let calls = 0;
    mount({
      events: { 'evt-abc': { guestCount: 5 } },
      fault: () => (++calls === 2 ? page({ message: 'slow down' }, { status: 429 }) : undefined),
    });
    const budget = countingBudget();
    const p = provider({ pageSize: 2 }, { limiter: budget });
    await p.luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT);
    assert.equal(calls, 4);
    assert.equal(budget.acquired, 4);
    assert.equal(p.requests(), 4);
  });

  describe('when rate limited', () => {
    it('waits Retry-After, logs a warning, reports it, and retries', async () => {
      let calls = 0;
      mount({
        fault: () =>
          ++calls === 1 ? page({ message: 'Too many' }, { status: 429, headers: { 'Retry-After': '7' } }) : undefined,
      });
      const sleep = fakeSleep();
      const logs = captureLogs();
      const p = provider({}, { sleep: sleep.sleep, log: logs.log });
      const summary = await p.luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT);
      assert.equal(summary.fetched, 3);
      assert.deepEqual(sleep.waits, [7_000]);
      assert.equal(p.rateLimited.length, 1);
      const warning = logs.entries().find((e) => e.msg === 'luma rate limited');
      assert.ok(warning);
      assert.equal(warning.level, 40);
      assert.deepEqual([warning.eventUid, warning.page, warning.attempt, warning.waitMs], ['uid-event-1', 1, 1, 7_000]);
    });

    it('waits the configured time when Retry-After is absent or not believable', async () => {
      const answers = [
        page({}, { status: 429 }),
        page({}, { status: 429, headers: { 'Retry-After': 'soon' } }),
        page({}, { status: 429, headers: { 'Retry-After': '86400' } }),
      ];
      mount({ fault: () => answers.shift() });
      const sleep = fakeSleep();
      await provider({ rateLimitWaitSeconds: 12 }, { sleep: sleep.sleep }).luma.fetchGuestsInBatches(
        collectBatches().onBatch,
        EVENT,
      );
      assert.deepEqual(sleep.waits, [12_000, 12_000, 12_000]);
    });

    it('gives up after rateLimitRetries retries with a retryable luma_rate_limited error', async () => {
      const stats = mount({ fault: () => page({}, { status: 429, headers: { 'Retry-After': '1' } }) });
      const sleep = fakeSleep();
      const p = provider({ rateLimitRetries: 3 }, { sleep: sleep.sleep });
      const err = await rejectionOf(p.luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT));
      assert.equal(stats.requests, 4);
      assert.equal(errorKind(err), 'luma_rate_limited');
      assert.equal(isPermanent(err), false);
      assert.match(err.message, /event uid-event-1, page 1/);
      assert.deepEqual(sleep.waits, [1_000, 1_000, 1_000]);
      assert.equal(p.rateLimited.length, 4);
    });

    it('recovers from the simulated Luma limit once its block ends', async () => {
      let clock = 1_000_000;
      const stats = mount({
        events: { 'evt-abc': { guestCount: 10 } },
        rateLimit: { requests: 2, windowMs: 60_000 },
        now: () => clock,
      });
      const sleep = fakeSleep((ms) => {
        clock += ms;
      });
      const { batches, onBatch } = collectBatches();
      await provider({ pageSize: 2 }, { sleep: sleep.sleep }).luma.fetchGuestsInBatches(onBatch, EVENT);
      assert.equal(batches.length, 5);
      assert.ok(stats.rateLimited >= 2);
      assert.ok(sleep.waits.every((ms) => ms === 60_000));
    });
  });

  describe('fails permanently, without retrying,', () => {
    for (const status of [401, 403]) {
      it(`when Luma rejects the key with ${status}`, async () => {
        const stats = mount(status === 401 ? { apiKey: 'another-key' } : { fault: () => page({}, { status }) });
        const err = await rejectionOf(provider().luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT));
        assert.ok(err instanceof PermanentError);
        assert.equal(err.kind, 'luma_auth');
        assert.match(err.message, new RegExp(`HTTP ${status}.*event uid-event-1, page 1`));
        assert.equal(stats.requests, 1);
      });
    }

    it('when the event is unknown (404)', async () => {
      const stats = mount({ events: {} });
      const err = await rejectionOf(provider().luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT));
      assert.ok(err instanceof PermanentError);
      assert.equal(err.kind, 'luma_event_not_found');
      assert.match(err.message, /evt-abc.*event uid-event-1, page 1/);
      assert.equal(stats.requests, 1);
    });

    it("when Luma rejects the request (other 4xx), quoting a bounded part of Luma's message", async () => {
      const stats = mount({
        fault: () => page({ message: `pagination_limit is invalid ${'!'.repeat(500)}` }, { status: 400 }),
      });
      const err = await rejectionOf(provider().luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT));
      assert.ok(err instanceof PermanentError);
      assert.equal(err.kind, 'luma_rejected');
      assert.match(err.message, /HTTP 400: pagination_limit is invalid/);
      assert.ok(err.message.length < 200);
      assert.equal(stats.requests, 1);
    });
  });

  describe('fails with a retryable error', () => {
    it('on a 5xx answer, once the in-process retries are spent', async () => {
      const stats = mount({ fault: () => new HttpResponse('<html>Bad gateway</html>', { status: 502 }) });
      const err = await rejectionOf(
        provider({ retries: 2 }).luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT),
      );
      assert.equal(isPermanent(err), false);
      assert.equal(errorKind(err), 'luma_unavailable');
      assert.match(err.message, /HTTP 502 for event uid-event-1, page 1/);
      assert.equal(stats.requests, 3);
    });

    it('on a dropped connection', async () => {
      mount({ fault: () => HttpResponse.error() });
      const err = await rejectionOf(provider().luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT));
      assert.equal(isPermanent(err), false);
      assert.equal(errorKind(err), 'luma_unavailable');
      assert.match(err.message, /event uid-event-1, page 1/);
      assert.ok(err.cause instanceof Error);
    });

    it('on a request that times out', async () => {
      mount({ latencyMs: 500 });
      const err = await rejectionOf(
        provider({ requestTimeoutMs: 50 }).luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT),
      );
      assert.equal(isPermanent(err), false);
      assert.equal(errorKind(err), 'luma_timeout');
      assert.match(err.message, /within 50 ms for event uid-event-1, page 1/);
    });
  });

  describe('rejects an unusable page, naming the event and page,', () => {
    const cursorPage = (cursor: string | undefined) => page({ entries: [], has_more: true, next_cursor: cursor });
    const cases: Array<[string, (pageNo: number) => Response | undefined, RegExp, number]> = [
      [
        'a body that is not JSON',
        (n) => (n === 2 ? new HttpResponse('{"entries": [', { status: 200 }) : undefined),
        /not valid JSON/,
        2,
      ],
      ['an HTML page', () => HttpResponse.html('<!doctype html><title>Maintenance</title>'), /HTML/, 1],
      ['a page without entries', () => page({ has_more: false }), /"entries" is missing/, 1],
      ['a repeated cursor', () => cursorPage('same-cursor'), /repeats the cursor of page 1/, 2],
      ['has_more without a cursor', () => cursorPage(undefined), /no "next_cursor"/, 1],
    ];
    for (const [what, fault, reason, failingPage] of cases) {
      it(`on ${what}`, async () => {
        mount({ events: { 'evt-abc': { guestCount: 5 } }, fault: (_req, pageNo) => fault(pageNo) });
        const err = await rejectionOf(
          provider({ pageSize: 2 }).luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT),
        );
        assert.equal(errorKind(err), 'luma_invalid_response');
        assert.equal(isPermanent(err), false);
        assert.match(err.message, new RegExp(`event uid-event-1, page ${failingPage}:`));
        assert.match(err.message, reason);
      });
    }

    it('on a cursor seen two pages earlier (a cycle A, B, A), before LUMA_MAX_PAGES', async () => {
      // Only a guard that remembers every cursor stops this cycle; one that remembers only
      // the previous cursor loops on until LUMA_MAX_PAGES (10,000 requests by default).
      const nextCursor: Record<string, string> = { first: 'cursor-a', 'cursor-a': 'cursor-b', 'cursor-b': 'cursor-a' };
      const stats = mount({
        fault: (request) => {
          const cursor = new URL(request.url).searchParams.get('pagination_cursor') ?? 'first';
          return cursorPage(nextCursor[cursor]);
        },
      });
      const err = await rejectionOf(
        provider({ maxPages: 50 }).luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT),
      );
      assert.equal(errorKind(err), 'luma_invalid_response');
      assert.match(err.message, /event uid-event-1, page 3: "next_cursor" repeats the cursor of page 1/);
      assert.equal(stats.requests, 3);
    });

    it('on more pages than maxPages', async () => {
      const stats = mount({ events: { 'evt-abc': { guestCount: 100 } } });
      const { batches, onBatch } = collectBatches();
      const err = await rejectionOf(provider({ pageSize: 10, maxPages: 3 }).luma.fetchGuestsInBatches(onBatch, EVENT));
      assert.equal(errorKind(err), 'luma_invalid_response');
      assert.match(err.message, /event uid-event-1, page 3: .*LUMA_MAX_PAGES \(3\)/);
      assert.equal(stats.requests, 3);
      assert.equal(batches.length, 2);
    });
  });

  it('stops fetching when onBatch throws, rejecting with its error and leaving no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const lookAheadSent = deferred<Request>();
      const stats = mount({
        events: { 'evt-abc': { guestCount: 10 } },
        // Page 2 is answered only after a minute, so it is in flight when onBatch(1) fails.
        latencyMs: (n) => (n === 2 ? 60_000 : 0),
        onRequest: (request, pageNo) => {
          if (pageNo === 2) lookAheadSent.resolve(request);
        },
      });
      const boom = new Error('database is down');
      const err = await rejectionOf(
        provider({ pageSize: 2 }).luma.fetchGuestsInBatches(async () => {
          await lookAheadSent.promise;
          throw boom;
        }, EVENT),
      );
      assert.equal(err, boom);
      // The server sees the client give up on the look-ahead: cancelled, not left running.
      const lookAhead = await lookAheadSent.promise;
      if (!lookAhead.signal.aborted) await once(lookAhead.signal, 'abort');
      assert.equal(stats.requests, 2, 'page 1 and the look-ahead for page 2, nothing after');
      assert.equal(stats.pagesServed, 1, 'the look-ahead was cancelled');
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('stops when the caller aborts, rejecting with the abort reason', async () => {
    const pagesAsked: number[] = [];
    mount({ events: { 'evt-abc': { guestCount: 10 } }, onRequest: (_request, pageNo) => pagesAsked.push(pageNo) });
    const controller = new AbortController();
    const reason = new Error('shutting down');
    const budget = countingBudget();
    const p = provider({ pageSize: 2 }, { limiter: budget });
    const handled: number[] = [];
    const err = await rejectionOf(
      p.luma.fetchGuestsInBatches(
        async (batch) => {
          handled.push(batch.page);
          if (batch.page === 2) controller.abort(reason);
        },
        { ...EVENT, signal: controller.signal },
      ),
    );
    assert.equal(err, reason);
    // Page 1, page 2, and the look-ahead for page 3 that was already under way when page 2
    // was handed over: the abort cancels it, and the loop asks for nothing more.
    assert.deepEqual(handled, [1, 2]);
    assert.equal(p.requests(), 3);
    assert.equal(budget.acquired, 3);
    assert.ok(
      pagesAsked.every((n) => n <= 3),
      `pages asked: ${pagesAsked}`,
    );
  });

  it('never puts the API key in an error message, its causes, or a log line', async () => {
    const logs = captureLogs();
    const scenarios: Array<[Partial<LumaSimulatorOptions>, Partial<Config['luma']>]> = [
      [{ apiKey: 'other' }, {}],
      [{ events: {} }, {}],
      [{ fault: () => page({ message: `bad key ${API_KEY}` }, { status: 400 }) }, {}],
      [{ fault: () => page({ error: `bad key ${API_KEY}` }, { status: 403 }) }, {}],
      [{ fault: () => page({}, { status: 500 }) }, {}],
      [{ fault: () => page({}, { status: 429 }) }, { rateLimitRetries: 2 }],
      [{ fault: () => HttpResponse.error() }, {}],
      [{ fault: () => new HttpResponse(`<html>${API_KEY}</html>`) }, {}],
      [{ latencyMs: 300 }, { requestTimeoutMs: 20 }],
    ];
    for (const [sim, config] of scenarios) {
      server.resetHandlers();
      mount(sim);
      const p = provider(config, { log: logs.log });
      const err = await rejectionOf(p.luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT));
      assert.ok(!everythingIn(err).includes(API_KEY), `the key leaked in: ${err.message}`);
    }
    assert.ok(logs.lines.length > 0);
    for (const line of logs.lines) assert.ok(!line.includes(API_KEY), `the key leaked in a log line: ${line}`);
  });
});
