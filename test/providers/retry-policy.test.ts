import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTransientStatus, MAX_RETRY_AFTER_SECONDS, retryAfterMs } from '../../src/providers/retry-policy.ts';

// A whole second, so an HTTP date (second precision) names it exactly.
const NOW = Date.UTC(2031, 5, 1, 12, 0, 0);
const clock = () => NOW;
const httpDate = (offsetMs: number) => new Date(NOW + offsetMs).toUTCString();
const FALLBACK = 1234;

describe('retryAfterMs', () => {
  it('reads delay-seconds, fractions included, rounded up to a millisecond', () => {
    assert.equal(retryAfterMs('7', FALLBACK, clock), 7000);
    assert.equal(retryAfterMs(' 2.0005 ', FALLBACK, clock), 2001);
    assert.equal(retryAfterMs('0', FALLBACK, clock), 0);
  });

  it('reads the HTTP-date form as the time left until that date', () => {
    assert.equal(retryAfterMs(httpDate(90_000), FALLBACK, clock), 90_000);
    assert.equal(retryAfterMs(httpDate(0), FALLBACK, clock), 0);
  });

  it('believes a wait of up to MAX_RETRY_AFTER_SECONDS, in either form, and no longer', () => {
    const max = MAX_RETRY_AFTER_SECONDS;
    assert.equal(retryAfterMs(String(max), FALLBACK, clock), max * 1000);
    assert.equal(retryAfterMs(String(max + 1), FALLBACK, clock), FALLBACK);
    assert.equal(retryAfterMs(httpDate(max * 1000), FALLBACK, clock), max * 1000);
    assert.equal(retryAfterMs(httpDate((max + 1) * 1000), FALLBACK, clock), FALLBACK);
  });

  it('falls back for a date in the past, an unreadable value, and no header', () => {
    assert.equal(retryAfterMs(httpDate(-1000), FALLBACK, clock), FALLBACK);
    assert.equal(retryAfterMs('soon', FALLBACK, clock), FALLBACK);
    assert.equal(retryAfterMs('-5', FALLBACK, clock), FALLBACK);
    assert.equal(retryAfterMs('   ', FALLBACK, clock), FALLBACK);
    assert.equal(retryAfterMs(undefined, FALLBACK, clock), FALLBACK);
  });
});

describe('isTransientStatus', () => {
  it('is true for 408, 425, 429 and every 5xx, and false around them', () => {
    const transient = [408, 425, 429, 500, 503, 599];
    const permanent = [200, 304, 400, 404, 407, 409, 424, 426, 428, 430, 499, 600];
    assert.deepEqual(
      transient.filter((s) => !isTransientStatus(s)),
      [],
    );
    assert.deepEqual(
      permanent.filter((s) => isTransientStatus(s)),
      [],
    );
  });
});
