import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HttpResponse } from 'msw';
import { errorKind, isPermanent } from '../../src/errors.ts';
import { CURRENT_GUESTS_PATH, LEGACY_GUESTS_PATH, type LumaSimulatorOptions } from '../../src/local/luma-simulator.ts';
import { type RunningLumaSimulator, startLumaSimulator } from '../../src/local/luma-simulator-http.ts';
import { silentLogger } from '../../src/log.ts';
import { createLumaProvider } from '../../src/providers/luma.ts';
import { createRateLimiter } from '../../src/providers/rate-limit.ts';
import {
  API_KEY,
  captureLogs,
  collectBatches,
  countingBudget,
  everythingIn,
  lumaConfig,
  rejectionOf,
} from './support.ts';

// No msw interception in this file: these requests travel over real sockets to the
// simulator, which serves the same msw handlers through node:http.

const EVENT = { eventUid: 'uid-http', externalEventId: 'evt-big' };

interface RawPage {
  entries: Array<{ api_id?: string; guest?: Record<string, unknown> }>;
  has_more: boolean;
  next_cursor?: string;
}
const pageOf = async (response: Response) => (await response.json()) as RawPage;
const running: RunningLumaSimulator[] = [];

async function simulator(opts: Partial<LumaSimulatorOptions> = {}) {
  const sim = await startLumaSimulator({ apiKey: API_KEY, events: { 'evt-big': { guestCount: 1_000 } }, ...opts });
  running.push(sim);
  return sim;
}

after(async () => {
  await Promise.all(running.map((sim) => sim.stop()));
});

describe('the Luma simulator over real HTTP', () => {
  let sim: RunningLumaSimulator;
  before(async () => {
    sim = await simulator({
      events: {
        'evt-big': { guestCount: 1_000 },
        'evt-mixed': [
          { id: 'gst-1', email: 'a@x.io' },
          { id: 'gst-2', email: 'b@x.io', approvalStatus: 'declined' },
          { id: 'gst-3', email: 'c@x.io' },
        ],
      },
    });
  });

  const get = (path: string, query: Record<string, string>, key: string | null = API_KEY) =>
    fetch(`${sim.url}${path}?${new URLSearchParams(query)}`, { headers: key ? { 'x-luma-api-key': key } : {} });

  for (const guestsPath of [LEGACY_GUESTS_PATH, CURRENT_GUESTS_PATH]) {
    it(`serves a 1,000-guest list to the provider on ${guestsPath}`, async () => {
      const { batches, onBatch } = collectBatches();
      const luma = createLumaProvider({
        config: lumaConfig({ apiUrl: sim.url, guestsPath }),
        limiter: countingBudget(),
        log: silentLogger,
      });
      const summary = await luma.fetchGuestsInBatches(onBatch, EVENT);
      assert.deepEqual(summary, { pages: 10, fetched: 1_000, skipped: 0, unidentified: 0 });
      assert.equal(batches[9]?.guests[99]?.externalGuestId, 'gst-evt-big-999');
      assert.equal(batches[0]?.guests[0]?.email, 'guest0@example.com');
    });
  }

  it('caps pagination_limit, filters approval_status, and accepts the legacy event_api_id', async () => {
    const big = await pageOf(await get(CURRENT_GUESTS_PATH, { event_id: 'evt-big', pagination_limit: '5000' }));
    assert.equal(big.entries.length, 100);
    assert.equal(big.has_more, true);
    assert.equal(typeof big.next_cursor, 'string');

    const mixed = await pageOf(
      await get(LEGACY_GUESTS_PATH, { event_api_id: 'evt-mixed', approval_status: 'approved', pagination_limit: '1' }),
    );
    assert.deepEqual(
      mixed.entries.map((e) => e.api_id),
      ['gst-1'],
    );
    const rest = await pageOf(
      await get(LEGACY_GUESTS_PATH, {
        event_id: 'evt-mixed',
        approval_status: 'approved',
        pagination_limit: '1',
        pagination_cursor: mixed.next_cursor ?? '',
      }),
    );
    assert.deepEqual(rest.entries[0]?.guest, {
      api_id: 'gst-3',
      email: 'c@x.io',
      name: null,
      approval_status: 'approved',
      registered_at: null,
    });
    assert.equal(rest.has_more, false);
    assert.equal('next_cursor' in rest, false);
  });

  it('answers 401 to a wrong key, 404 to an unknown event, 400 to a forged cursor', async () => {
    assert.equal((await get(CURRENT_GUESTS_PATH, { event_id: 'evt-big' }, null)).status, 401);
    assert.equal((await get(CURRENT_GUESTS_PATH, { event_id: 'evt-big' }, 'wrong')).status, 401);
    assert.equal((await get(CURRENT_GUESTS_PATH, { event_id: 'evt-nope' })).status, 404);
    const forged = await get(CURRENT_GUESTS_PATH, { event_id: 'evt-big', pagination_cursor: 'not-a-cursor' });
    assert.equal(forged.status, 400);
  });
});

describe('the provider against the simulator over real HTTP', () => {
  it('gets 429 with the rate-limit headers when over the simulated limit', async () => {
    const sim = await simulator({ rateLimit: { requests: 2, windowMs: 60_000 } });
    const get = () =>
      fetch(`${sim.url}${CURRENT_GUESTS_PATH}?event_id=evt-big`, { headers: { 'x-luma-api-key': API_KEY } });
    const first = await get();
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-ratelimit-limit'), '2');
    assert.equal(first.headers.get('x-ratelimit-remaining'), '1');
    await get();
    const limited = await get();
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('x-ratelimit-remaining'), '0');
    assert.ok(Number(limited.headers.get('retry-after')) >= 59);
    assert.ok(Number(limited.headers.get('x-ratelimit-reset')) > Date.now() / 1000);
    assert.equal(sim.stats.rateLimited, 1);
  });

  it('stays under the simulated limit when the client-side budget is smaller', async () => {
    const sim = await simulator({ rateLimit: { requests: 10, windowMs: 100 } });
    const luma = createLumaProvider({
      config: lumaConfig({ apiUrl: sim.url, pageSize: 50 }),
      limiter: createRateLimiter({ perMinute: 4, windowMs: 100 }),
      log: silentLogger,
    });
    const started = performance.now();
    const summary = await luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT);
    assert.equal(summary.pages, 20);
    assert.equal(sim.stats.rateLimited, 0);
    // 20 requests at 4 per 100 ms cannot finish before four windows have passed.
    assert.ok(performance.now() - started >= 390);
  });

  it('keeps Luma from answering 429 when requests reach it late (a busy machine)', async () => {
    // Luma's window opens at the first arrival. Requests A and B are granted at once but
    // reach the limiter 400 ms later (the event-loop and scheduling delays of a loaded
    // machine); C is granted when the budget frees and arrives at once. Counted from the
    // grants, C would start one window after A's grant and land in the window A opened.
    const late = new Set(['evt-a', 'evt-b']);
    const sim = await simulator({
      events: { 'evt-a': { guestCount: 1 }, 'evt-b': { guestCount: 1 }, 'evt-c': { guestCount: 1 } },
      rateLimit: { requests: 2, windowMs: 1_000 },
      fault: async (request) => {
        const event = new URL(request.url).searchParams.get('event_id') ?? '';
        if (late.delete(event)) await new Promise((resolve) => setTimeout(resolve, 400));
        return undefined;
      },
    });
    const luma = createLumaProvider({
      config: lumaConfig({ apiUrl: sim.url, rateLimitRetries: 0 }),
      limiter: createRateLimiter({ perMinute: 2, windowMs: 1_000 }),
      log: silentLogger,
    });
    const fetch = (id: string) =>
      luma.fetchGuestsInBatches(collectBatches().onBatch, { eventUid: `uid-${id}`, externalEventId: id });
    const summaries = await Promise.all([fetch('evt-a'), fetch('evt-b'), fetch('evt-c')]);
    assert.equal(sim.stats.rateLimited, 0);
    assert.deepEqual(
      summaries.map((s) => s.fetched),
      [1, 1, 1],
    );
  });

  it('times out a slow answer with a retryable error, and the next sync still works', async () => {
    let requests = 0;
    const sim = await simulator({ latencyMs: () => (++requests === 1 ? 300 : 0) });
    const logs = captureLogs();
    const config = lumaConfig({ apiUrl: sim.url, requestTimeoutMs: 50, retries: 0 });
    const luma = createLumaProvider({ config, limiter: countingBudget(), log: logs.log });
    const err = await rejectionOf(luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT));
    assert.equal(errorKind(err), 'luma_timeout');
    assert.equal(isPermanent(err), false);
    assert.match(err.message, /event uid-http, page 1/);
    assert.ok(!everythingIn(err).includes(API_KEY));
    assert.ok(logs.lines.every((line) => !line.includes(API_KEY)));

    // The timed-out socket must not poison the pool; a roomy timeout keeps a busy machine out of it.
    const patient = createLumaProvider({
      config: { ...config, requestTimeoutMs: 10_000 },
      limiter: countingBudget(),
      log: silentLogger,
    });
    const again = await patient.fetchGuestsInBatches(collectBatches().onBatch, EVENT);
    assert.equal(again.fetched, 1_000);
  });

  it('reports a dropped connection as retryable', async () => {
    const sim = await simulator({ fault: () => HttpResponse.error() });
    const luma = createLumaProvider({
      config: lumaConfig({ apiUrl: sim.url }),
      limiter: countingBudget(),
      log: silentLogger,
    });
    const err = await rejectionOf(luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT));
    assert.equal(errorKind(err), 'luma_unavailable');
    assert.equal(isPermanent(err), false);
    assert.ok(!everythingIn(err).includes(API_KEY));
  });

  it('listens on the port it is given', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const sim = await startLumaSimulator({ apiKey: API_KEY, events: {} }, { host: '127.0.0.1', port });
    running.push(sim);
    assert.equal(sim.url, `http://127.0.0.1:${port}`);
    const response = await fetch(`${sim.url}${CURRENT_GUESTS_PATH}?event_id=x`, {
      headers: { 'x-luma-api-key': API_KEY },
    });
    assert.equal(response.status, 404);
  });

  it('reports a refused connection as retryable', async () => {
    const sim = await simulator();
    await sim.stop();
    running.splice(running.indexOf(sim), 1);
    const luma = createLumaProvider({
      config: lumaConfig({ apiUrl: sim.url }),
      limiter: countingBudget(),
      log: silentLogger,
    });
    const err = await rejectionOf(luma.fetchGuestsInBatches(collectBatches().onBatch, EVENT));
    assert.equal(errorKind(err), 'luma_unavailable');
    assert.match(err.message, /\(ECONNREFUSED\) for event uid-http, page 1/);
  });
});
