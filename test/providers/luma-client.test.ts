/**
 * The Luma provider's own HTTP client against a scripted local server: what it sends, what
 * it does not follow, which answers it reads as a page, and its waits and request budget
 * around a failed request. The simulator-level behaviour is luma.test.ts's and
 * luma-retry.test.ts's.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import type { Config } from '../../src/config/config.ts';
import { errorKind } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { createLumaProvider, type LumaProviderDeps } from '../../src/providers/luma.ts';
import type { RequestBudget } from '../../src/providers/rate-limit.ts';
import { closeServer } from '../support/close-server.ts';
import { API_KEY, captureLogs, collectBatches, fakeSleep, lumaConfig, rejectionOf } from './support.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_req, res) => res.writeHead(500).end();
const seen: IncomingMessage[] = [];
const server = createServer((req, res) => {
  seen.push(req);
  handler(req, res);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
after(() => closeServer(server));
const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const EVENT = { eventUid: 'uid-client', externalEventId: 'evt-client' };
const onePage = { entries: [{ id: 'gst-1', user_email: 'a@x.io' }], has_more: false };
const send =
  (status: number, body: unknown, headers: Record<string, string> = {}) =>
  (res: ServerResponse) =>
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

/** A server answering the n-th request (from 0) with answers[n], the last one after that. */
function serve(...answers: Array<(res: ServerResponse, req: IncomingMessage) => void>) {
  seen.length = 0;
  let n = 0;
  handler = (req, res) => answers[Math.min(n++, answers.length - 1)]!(res, req);
}

/** A budget counting its grants and the ends reported back to it. */
function endCountingBudget(): RequestBudget & { acquired: number; ended: number } {
  const budget = {
    acquired: 0,
    ended: 0,
    async acquire(signal?: AbortSignal) {
      signal?.throwIfAborted();
      budget.acquired++;
      let reported = false;
      return () => {
        if (!reported) budget.ended++;
        reported = true;
      };
    },
  };
  return budget;
}

function provider(overrides: Partial<Config['luma']> = {}, deps: Partial<LumaProviderDeps> = {}) {
  const limiter = endCountingBudget();
  const retried: string[] = [];
  const luma = createLumaProvider({
    config: lumaConfig({ apiUrl, retries: 2, retryBaseMs: 100, retryMaxMs: 1_000, ...overrides }),
    limiter,
    log: silentLogger,
    sleep: fakeSleep().sleep,
    random: () => 0.5,
    onRetry: (kind) => retried.push(kind),
    ...deps,
  });
  return { luma, limiter, retried };
}

const fetchAll = (p: ReturnType<typeof provider>, signal?: AbortSignal) =>
  p.luma.fetchGuestsInBatches(collectBatches().onBatch, { ...EVENT, signal });

describe('the Luma client', () => {
  it('sends the API key and asks for JSON', async () => {
    serve(send(200, onePage));
    await fetchAll(provider());
    assert.equal(seen[0]?.headers['x-luma-api-key'], API_KEY);
    assert.equal(seen[0]?.headers.accept, 'application/json');
  });

  it('finds the guest list whether its path has no leading slash, one or several', async () => {
    for (const guestsPath of ['v1/event/get-guests', '/v1/event/get-guests', '//v1/event/get-guests']) {
      serve(send(200, onePage));
      await fetchAll(provider({ guestsPath }));
      assert.equal(new URL(seen[0]!.url!, apiUrl).pathname, '/v1/event/get-guests', guestsPath);
    }
  });

  it('does not follow a redirect (the API key would go with it), and leaves it to SQS', async () => {
    serve((res) => res.writeHead(302, { location: `${apiUrl}/elsewhere` }).end(), send(200, onePage));
    const err = await rejectionOf(fetchAll(provider()));
    assert.equal(errorKind(err), 'luma_unexpected_status');
    assert.equal(seen.length, 1, 'nothing requested at the redirect target');
  });

  it('reads only a 2xx answer as a page: a 300 carrying a page body is not one', async () => {
    serve(send(300, onePage));
    assert.equal(errorKind(await rejectionOf(fetchAll(provider()))), 'luma_unexpected_status');
    serve(send(299, onePage));
    assert.deepEqual(await fetchAll(provider()), { pages: 1, fetched: 1, skipped: 0, unidentified: 0 });
  });

  it('sends no request of its own: each one, retries included, is one the provider counted', async () => {
    serve(send(503, {}), send(200, onePage));
    const p = provider();
    await fetchAll(p);
    assert.equal(seen.length, 2);
    assert.equal(p.limiter.acquired, 2);
  });

  it('reports the end of every request to the budget, a failed one included', async () => {
    serve((res) => res.destroy(), send(200, onePage));
    const p = provider();
    await fetchAll(p);
    assert.deepEqual([p.limiter.acquired, p.limiter.ended], [2, 2]);
  });

  it('honours Retry-After on a 503 only: another transient status backs off as usual', async () => {
    const waits = (status: number) => {
      serve(send(status, {}, { 'retry-after': '30' }), send(200, onePage));
      const sleep = fakeSleep();
      return fetchAll(provider({}, { sleep: sleep.sleep })).then(() => sleep.waits);
    };
    assert.deepEqual(await waits(503), [30_000]);
    // Half the first backoff ceiling (the jitter is pinned at 0.5).
    assert.deepEqual(await waits(500), [50]);
    assert.deepEqual(await waits(408), [50]);
  });

  it('rejects with the caller’s reason when aborted while a request is out, and retries nothing', async () => {
    const stop = new AbortController();
    serve(() => stop.abort(new Error('shutting down')));
    const p = provider({ retries: 0 });
    const err = await rejectionOf(fetchAll(p, stop.signal));
    assert.equal(err.message, 'shutting down');
    assert.deepEqual(p.retried, []);
    assert.equal(p.limiter.ended, 1);
  });

  it('fails the read when its wait fails, rather than sending again', async () => {
    serve(send(503, {}), send(200, onePage));
    const broken = new Error('the timer broke');
    const p = provider(
      {},
      {
        sleep: async () => {
          throw broken;
        },
      },
    );
    assert.equal(await rejectionOf(fetchAll(p)), broken);
    assert.equal(seen.length, 1);
  });

  it('waits on a real timer when no sleep is given, and stops waiting when aborted', async () => {
    const stop = new AbortController();
    serve((res) => {
      send(503, {}, { 'retry-after': '3000' })(res);
      setTimeout(() => stop.abort(new Error('shutting down')), 50);
    });
    const p = provider({}, { sleep: undefined });
    const err = await rejectionOf(fetchAll(p, stop.signal));
    assert.equal(err.message, 'shutting down');
    assert.equal(seen.length, 1, 'no request sent before the wait ended');
  });

  it('logs each page fetched with its event, page, guests and a duration in milliseconds', async () => {
    serve(send(200, onePage));
    const { log, entries } = captureLogs();
    const started = performance.now();
    await fetchAll(provider({}, { log }));
    const elapsed = performance.now() - started;
    const [line] = entries().filter((e) => e.msg === 'luma page fetched');
    assert.deepEqual([line?.eventUid, line?.page, line?.guests], [EVENT.eventUid, 1, 1]);
    assert.ok(typeof line?.ms === 'number' && line.ms >= 0 && line.ms <= elapsed + 1, `${line?.ms} of ${elapsed}`);
  });

  it('is not configured with a blank API key', () => {
    assert.equal(provider({ apiKey: '   ' }).luma.isConfigured(), false);
  });

  it('catches a resumed read’s start cursor coming back from the page it leads to', async () => {
    serve(send(200, { entries: [], has_more: true, next_cursor: 'cur-5' }));
    const p = provider();
    const err = await rejectionOf(
      p.luma.fetchGuestsInBatches(collectBatches().onBatch, { ...EVENT, start: { cursor: 'cur-5', page: 5 } }),
    );
    assert.equal(errorKind(err), 'luma_invalid_response');
    assert.match(err.message, /page 5: "next_cursor" repeats the cursor of page 4/);
    assert.equal(new URL(seen[0]!.url!, apiUrl).searchParams.get('pagination_cursor'), 'cur-5');
  });
});
