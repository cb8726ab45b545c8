import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  backoffMs,
  isTransientStatus,
  MAX_RETRY_AFTER_SECONDS,
  retryAfterMs,
} from '../../src/providers/retry-policy.ts';

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
    // Not delay-seconds (digits only) though Number() reads them: 1000 s, 16 s, 3 s.
    assert.equal(retryAfterMs('1e3', FALLBACK, clock), FALLBACK);
    assert.equal(retryAfterMs('0x10', FALLBACK, clock), FALLBACK);
    assert.equal(retryAfterMs('3 seconds', FALLBACK, clock), FALLBACK);
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

describe('backoffMs', () => {
  const options = { baseMs: 100, maxMs: 1000 };
  const half = () => 0.5;

  it('waits a random share of a ceiling that starts at baseMs and doubles per retry', () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((retry) => backoffMs(retry, options, half)),
      [50, 100, 200, 400],
    );
  });

  it('caps the ceiling at maxMs however many retries came before', () => {
    assert.equal(backoffMs(5, options, half), 500);
    assert.equal(backoffMs(40, options, half), 500);
  });

  it('treats a retry number below 1 as the first retry', () => {
    assert.equal(backoffMs(0, options, half), 50);
    assert.equal(backoffMs(-3, options, half), 50);
  });

  it('stays below the ceiling (full jitter: from 0 up to, not including, it) in whole milliseconds', () => {
    const withRandom = (retry: number, r: number) => backoffMs(retry, options, () => r);
    assert.deepEqual([withRandom(1, 0), withRandom(1, 0.9999), withRandom(2, 0.123)], [0, 99, 24]);
  });
});
