import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPermanent } from '../../src/errors.ts';
import { statusFailure } from '../../src/providers/luma-failures.ts';

const request = { eventUid: 'ev-1', externalEventId: 'evt-1', page: 1, cursor: null };
const context = { apiKey: 'secret-key', requestTimeoutMs: 1000 };
const kindOf = (status: number) => {
  const { error, transient } = statusFailure(status, '', request, context);
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

  it('retries every 5xx here', () => {
    for (const status of [500, 599]) assert.equal(kindOf(status).transient, true, `${status}`);
  });
});
