/**
 * registerWebhook against a stand-in for Luma's API (the got instance replaced by a
 * function that answers each call as the test says): reuse across list pages, what is
 * created, and how each kind of refusal is reported.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Got } from 'got';
import { registerWebhook, WEBHOOK_EVENT_TYPES, WebhookRegistrationError } from '../../src/webhooks/register.ts';

const URL = 'https://worker.example.org/webhooks/luma';
interface Call {
  path: string;
  method: string;
  searchParams?: Record<string, string>;
  json?: unknown;
}
type Answer = { statusCode: number; body: unknown };

/** A got stand-in: `answer` gives each call's status and body (an object is sent as JSON). */
function luma(answer: (call: Call, n: number) => Answer) {
  const calls: Call[] = [];
  const http = (async (path: string, options: Omit<Call, 'path'>) => {
    const call = { path, ...options };
    calls.push(call);
    const { statusCode, body } = answer(call, calls.length);
    return { statusCode, body: typeof body === 'string' ? body : JSON.stringify(body) };
  }) as unknown as Got;
  return { http, calls };
}

const hook = (url: string, extra: object = {}) => ({
  id: `wh-${url.length}`,
  url,
  event_types: ['guest.registered'],
  status: 'active',
  secret: 'whsec_abc',
  ...extra,
});
const created = (extra: object = {}) => ({ statusCode: 200, body: hook(URL, { id: 'wh-new', ...extra }) });

describe('registerWebhook', () => {
  it('creates the webhook for the guest deliveries when none exists for the URL', async () => {
    const { http, calls } = luma((call) =>
      call.method === 'GET'
        ? { statusCode: 200, body: { entries: [hook('https://other/')], has_more: false } }
        : created(),
    );
    const result = await registerWebhook(http, URL);
    assert.deepEqual(result, {
      id: 'wh-new',
      url: URL,
      event_types: ['guest.registered'],
      status: 'active',
      secret: 'whsec_abc',
      reused: false,
    });
    assert.deepEqual(calls, [
      { path: 'v1/webhooks/list', method: 'GET', searchParams: { pagination_limit: '50' } },
      { path: 'v2/webhooks/create', method: 'POST', json: { url: URL, event_types: WEBHOOK_EVENT_TYPES } },
    ]);
    assert.deepEqual(WEBHOOK_EVENT_TYPES, ['guest.registered', 'guest.updated']);
  });

  it('reuses the webhook already registered for the URL, found on a later page, and creates none', async () => {
    const { http, calls } = luma((call, n) => {
      if (n === 1)
        return { statusCode: 200, body: { entries: [hook('https://a/')], has_more: true, next_cursor: 'c2' } };
      if (n === 2)
        return { statusCode: 200, body: { entries: [hook(URL, { id: 'wh-old' })], has_more: true, next_cursor: 'c3' } };
      throw new Error(`unexpected ${call.method} ${call.path}`);
    });
    const result = await registerWebhook(http, URL);
    assert.equal(result.id, 'wh-old');
    assert.equal(result.reused, true);
    assert.equal(result.secret, 'whsec_abc');
    assert.deepEqual(calls[1]?.searchParams, { pagination_limit: '50', pagination_cursor: 'c2' });
    assert.equal(calls.length, 2);
  });

  it('stops listing at the last page, and when a page says more but gives no cursor', async () => {
    for (const last of [
      { entries: [], has_more: false, next_cursor: 'ignored' },
      { entries: [], has_more: true },
      { has_more: true, next_cursor: 7 },
    ]) {
      const { http, calls } = luma((call) => (call.method === 'GET' ? { statusCode: 200, body: last } : created()));
      assert.equal((await registerWebhook(http, URL)).reused, false);
      assert.deepEqual(
        calls.map((c) => c.path),
        ['v1/webhooks/list', 'v2/webhooks/create'],
        JSON.stringify(last),
      );
    }
  });

  it('reads at most 50 pages of the list before creating', async () => {
    const { http, calls } = luma((call, n) =>
      call.method === 'GET'
        ? { statusCode: 200, body: { entries: [], has_more: true, next_cursor: `c${n}` } }
        : created(),
    );
    await registerWebhook(http, URL);
    assert.equal(calls.filter((c) => c.method === 'GET').length, 50);
    assert.equal(calls.at(-1)?.method, 'POST');
  });

  it('reports a refused key as such, naming LUMA_API_KEY and the plan webhooks need', async () => {
    for (const statusCode of [401, 403]) {
      const { http } = luma(() => ({ statusCode, body: { message: 'nope' } }));
      await assert.rejects(registerWebhook(http, URL), (err: unknown) => {
        assert.ok(err instanceof WebhookRegistrationError);
        assert.equal(err.name, 'WebhookRegistrationError');
        assert.match(
          err.message,
          new RegExp(`Luma refused GET /v1/webhooks/list \\(${statusCode}\\): check LUMA_API_KEY`),
        );
        return true;
      });
    }
  });

  it('reports any other non-2xx answer with its status and the start of its body on one line', async () => {
    const { http } = luma((call) =>
      call.method === 'GET'
        ? { statusCode: 200, body: { entries: [] } }
        : { statusCode: 500, body: `upstream\n  broke ${'x'.repeat(500)}` },
    );
    await assert.rejects(registerWebhook(http, URL), (err: Error) => {
      assert.ok(err instanceof WebhookRegistrationError);
      assert.match(err.message, /^Luma answered POST \/v2\/webhooks\/create with 500: upstream broke x+$/);
      assert.ok(err.message.length < 260, 'the body is cut short');
      return true;
    });
    for (const statusCode of [199, 300]) {
      const { http: other } = luma(() => ({ statusCode, body: {} }));
      await assert.rejects(registerWebhook(other, URL), new RegExp(`with ${statusCode}:`));
    }
  });

  it('accepts any 2xx answer', async () => {
    const { http } = luma((call) =>
      call.method === 'GET' ? { statusCode: 299, body: { entries: [] } } : { statusCode: 201, body: hook(URL) },
    );
    assert.equal((await registerWebhook(http, URL)).secret, 'whsec_abc');
  });

  it('refuses an answer that is not a JSON object', async () => {
    for (const body of ['not json', '[1]', 'null', '"text"']) {
      const { http } = luma(() => ({ statusCode: 200, body }));
      await assert.rejects(
        registerWebhook(http, URL),
        (err: unknown) =>
          err instanceof WebhookRegistrationError &&
          /Luma answered GET \/v1\/webhooks\/list with something that is not a JSON object/.test(err.message),
        body,
      );
    }
  });

  it('refuses a webhook without an id or a secret, and fills what else is missing', async () => {
    for (const bad of [{ secret: 'whsec_x' }, { id: 'wh-1' }, { id: 1, secret: 'whsec_x' }]) {
      const { http } = luma((call) =>
        call.method === 'GET' ? { statusCode: 200, body: { entries: [] } } : { statusCode: 200, body: bad },
      );
      await assert.rejects(registerWebhook(http, URL), /Luma returned a webhook without an id or a secret/);
    }
    const { http } = luma((call) =>
      call.method === 'GET'
        ? { statusCode: 200, body: { entries: 'not a list' } }
        : { statusCode: 200, body: { id: 'wh-bare', secret: 'whsec_y', event_types: [1, 'guest.updated'] } },
    );
    assert.deepEqual(await registerWebhook(http, URL), {
      id: 'wh-bare',
      url: '',
      event_types: ['1', 'guest.updated'],
      status: '',
      secret: 'whsec_y',
      reused: false,
    });
    const { http: noTypes } = luma((call) =>
      call.method === 'GET'
        ? { statusCode: 200, body: { entries: [] } }
        : {
            statusCode: 200,
            body: { id: 'wh-2', secret: 'whsec_z', event_types: 'guest.updated', url: URL, status: 'paused' },
          },
    );
    const result = await registerWebhook(noTypes, URL);
    assert.deepEqual(result.event_types, []);
    assert.equal(result.status, 'paused');
    assert.equal(result.url, URL);
  });
});
