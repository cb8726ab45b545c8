import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPermanent } from '../../src/errors.ts';
import { ResponseTooLargeError } from '../../src/providers/bounded-body.ts';
import { CURSOR_REJECTED, requestFailure, statusFailure } from '../../src/providers/luma-failures.ts';

const request = { eventUid: 'ev-1', externalEventId: 'evt-1', page: 1, cursor: null };
const context = { apiKey: 'secret-key', requestTimeoutMs: 1000 };
const kindOf = (status: number, cursor: string | null = null) => {
  const { error, transient } = statusFailure(status, '', { ...request, cursor }, context);
  return { kind: (error as { kind?: string }).kind, permanent: isPermanent(error), transient };
};

describe('statusFailure', () => {
  it('leaves an unexpected 1xx or 3xx to SQS (retryable later, not retried now), never drops it as permanent', () => {
    for (const status of [100, 199, 302, 304, 399]) {
      assert.deepEqual(
        kindOf(status),
        { kind: 'luma_unexpected_status', permanent: false, transient: false },
        `${status}`,
      );
    }
  });

  it('drops a 4xx Luma rejected as permanent, across the whole range', () => {
    for (const status of [400, 418, 499]) {
      assert.deepEqual(kindOf(status), { kind: 'luma_rejected', permanent: true, transient: false }, `${status}`);
    }
  });

  it('retries every 5xx here, as Luma being unavailable', () => {
    for (const status of [500, 599]) {
      assert.deepEqual(kindOf(status), { kind: 'luma_unavailable', permanent: false, transient: true }, `${status}`);
    }
  });

  it('drops a rejected API key (401, 403) as an auth failure, with or without a cursor', () => {
    for (const cursor of [null, 'cur-2']) {
      for (const status of [401, 403]) {
        assert.deepEqual(kindOf(status, cursor), { kind: 'luma_auth', permanent: true, transient: false }, `${status}`);
      }
    }
    assert.equal(kindOf(402).kind, 'luma_rejected');
  });

  it('reads 400, 404, 410 and 422 on a request with a cursor as the cursor rejected (the list is read again)', () => {
    assert.equal(CURSOR_REJECTED, 'luma_cursor_rejected');
    for (const status of [400, 404, 410, 422]) {
      assert.deepEqual(
        kindOf(status, 'cur-2'),
        { kind: 'luma_cursor_rejected', permanent: true, transient: false },
        `${status}`,
      );
    }
    // Any other 4xx with a cursor is about the request, not the cursor.
    for (const status of [409, 418]) assert.equal(kindOf(status, 'cur-2').kind, 'luma_rejected', `${status}`);
  });

  it('reads a 404 on the first page (no cursor) as an event Luma does not know, and other such statuses as rejected', () => {
    assert.deepEqual(kindOf(404), { kind: 'luma_event_not_found', permanent: true, transient: false });
    for (const status of [400, 410, 422]) assert.equal(kindOf(status).kind, 'luma_rejected', `${status}`);
  });

  it('names the event and the page in every message', () => {
    const on = { ...request, page: 7 };
    for (const [status, cursor] of [
      [503, null],
      [401, null],
      [404, null],
      [404, 'cur-2'],
      [409, null],
      [302, null],
    ] as const) {
      const { message } = statusFailure(status, '', { ...on, cursor }, context).error;
      assert.match(message, /for event ev-1, page 7$/, `${status}`);
    }
    assert.match(statusFailure(404, '', on, context).error.message, /event evt-1/);
  });
});

describe('the detail statusFailure quotes from Luma’s body', () => {
  const rejected = (body: string) => statusFailure(422, body, request, context).error.message;

  it('quotes Luma’s message, or its error, with control characters blanked and the API key scrubbed', () => {
    assert.match(
      rejected(JSON.stringify({ message: '  bad\tcursor secret-key  ' })),
      /HTTP 422: bad cursor \[redacted\]\)/,
    );
    assert.match(rejected('{"error":"limit must be below 100"}'), /HTTP 422: limit must be below 100\)/);
    assert.match(rejected('{"message":7,"error":"from error"}'), /HTTP 422: from error\)/);
  });

  it('scrubs an API key of four characters or more, and leaves shorter ones (they would match ordinary text)', () => {
    const detail = (apiKey: string) =>
      statusFailure(422, '{"message":"abcdef"}', request, { ...context, apiKey }).error.message;
    assert.match(detail('abcd'), /HTTP 422: \[redacted\]ef\)/);
    assert.match(detail('abc'), /HTTP 422: abcdef\)/);
    assert.match(detail(''), /HTTP 422: abcdef\)/);
  });

  it('quotes nothing for a body that is not JSON, null, blank or without a text message', () => {
    for (const body of ['<html>', 'null', '{"message":"   "}', '{"message":{"text":"x"}}', '']) {
      assert.match(rejected(body), /HTTP 422\)/, JSON.stringify(body));
    }
  });

  it('cuts a detail to 100 characters and reads no body over 100 000 characters', () => {
    const exactly = 'x'.repeat(100);
    assert.ok(rejected(JSON.stringify({ message: exactly })).includes(`: ${exactly})`));
    assert.ok(rejected(JSON.stringify({ message: `${exactly}y` })).includes(`: ${exactly}…)`));
    const padded = (length: number) => {
      const head = '{"message":"big","pad":"';
      return `${head}${'p'.repeat(length - head.length - 2)}"}`;
    };
    assert.match(rejected(padded(100_000)), /: big\)/);
    assert.match(rejected(padded(100_001)), /HTTP 422\)/);
  });
});

describe('requestFailure', () => {
  it('does not retry an answer over the size cap here (SQS redelivers it)', () => {
    const { error, transient } = requestFailure(
      new ResponseTooLargeError(9_000_000, 1_000_000, true),
      request,
      context,
    );
    assert.equal(transient, false);
    assert.equal((error as { kind?: string }).kind, 'luma_response_too_large');
    assert.equal(isPermanent(error), false);
  });

  it('retries a timeout, naming the limit, with the cause’s name, code and scrubbed message only', () => {
    const err = Object.assign(new Error('timed out with key secret-key'), {
      name: 'TimeoutError',
      code: 'ETIMEDOUT',
      options: { headers: { 'x-luma-api-key': 'secret-key' } },
    });
    const { error, transient } = requestFailure(err, request, context);
    assert.equal(transient, true);
    assert.equal((error as { kind?: string }).kind, 'luma_timeout');
    assert.match(error.message, /within 1000 ms/);
    const cause = error.cause as Error & { code?: string; options?: unknown };
    assert.equal(cause.message, 'TimeoutError: timed out with key [redacted]');
    assert.equal(cause.code, 'ETIMEDOUT');
    assert.equal(cause.options, undefined);
  });

  it('retries any other failure, naming its code when it has one', () => {
    const reset = requestFailure(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), request, context);
    assert.equal(reset.transient, true);
    assert.equal((reset.error as { kind?: string }).kind, 'luma_unavailable');
    assert.match(reset.error.message, /Luma request failed \(ECONNRESET\) for event ev-1, page 1/);
    assert.equal((reset.error.cause as { code?: string }).code, 'ECONNRESET');

    const odd = requestFailure(Object.assign(new Error('odd'), { code: 42 }), request, context);
    assert.match(odd.error.message, /^Luma request failed for event/);
    assert.equal((odd.error.cause as { code?: unknown }).code, undefined);

    const thrownNull = requestFailure(null, request, context);
    assert.equal(thrownNull.transient, true);
    assert.equal((thrownNull.error.cause as Error).message, 'Error: null');
  });
});
