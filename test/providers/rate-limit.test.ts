import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRateLimiter } from '../../src/providers/rate-limit.ts';
import { busiestWindow } from '../support/windows.ts';

/** A clock that only moves when the limiter sleeps. */
function fakeTime() {
  let now = 0;
  const sleeps: number[] = [];
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
    sleeps,
    sleep: async (ms: number, signal?: AbortSignal) => {
      signal?.throwIfAborted();
      sleeps.push(ms);
      // Yield first so callers queued in the same tick line up before time moves.
      await new Promise((resolve) => setImmediate(resolve));
      now += ms;
    },
  };
}

describe('createRateLimiter', () => {
  it('lets the first perMinute requests start at once', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ perMinute: 5, now: time.now, sleep: time.sleep });
    for (let i = 0; i < 5; i++) await limiter.acquire();
    assert.equal(time.now(), 0);
    assert.deepEqual(time.sleeps, []);
  });

  it('never starts more than perMinute requests in any window, across concurrent callers', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ perMinute: 10, guardMs: 0, now: time.now, sleep: time.sleep });
    const starts: number[] = [];
    // Three "syncs" sharing the one limiter.
    const sync = async (requests: number) => {
      for (let i = 0; i < requests; i++) {
        await limiter.acquire();
        starts.push(time.now());
      }
    };
    await Promise.all([sync(20), sync(15), sync(12)]);
    assert.equal(starts.length, 47);
    assert.ok(busiestWindow(starts, 60_000) <= 10, `busiest window held ${busiestWindow(starts, 60_000)}`);
    // 47 requests at 10 per minute: four full windows after the first burst, and no more.
    assert.equal(Math.max(...starts), 4 * 60_000);
  });

  it('keeps the budget for irregular traffic', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ perMinute: 7, now: time.now, sleep: time.sleep });
    const starts: number[] = [];
    const gaps = [0, 5_000, 0, 0, 59_000, 1, 30_000, 0, 0, 0, 0, 0, 29_999, 2, 0, 0, 0, 0, 0, 0, 0, 61_000, 0, 0];
    for (const gap of gaps) {
      time.advance(gap);
      await limiter.acquire();
      starts.push(time.now());
    }
    assert.ok(busiestWindow(starts, 60_000) <= 7, `busiest window held ${busiestWindow(starts, 60_000)}`);
  });

  it('spaces windows by a guard of 2% by default, for servers that count arrivals', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ perMinute: 2, windowMs: 1_000, now: time.now, sleep: time.sleep });
    await limiter.acquire();
    await limiter.acquire();
    await limiter.acquire();
    assert.equal(time.now(), 1_020);
  });

  it('serves waiters in arrival order', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ perMinute: 1, windowMs: 1_000, guardMs: 0, now: time.now, sleep: time.sleep });
    const order: number[] = [];
    await Promise.all([1, 2, 3, 4].map((n) => limiter.acquire().then(() => order.push(n))));
    assert.deepEqual(order, [1, 2, 3, 4]);
    assert.equal(time.now(), 3_000);
  });

  it('rejects an aborted waiter with its reason and gives its turn to the next', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ perMinute: 1, windowMs: 1_000, guardMs: 0, now: time.now, sleep: time.sleep });
    await limiter.acquire();
    const controller = new AbortController();
    const first = limiter.acquire(controller.signal);
    const second = limiter.acquire();
    controller.abort(new Error('sync cancelled'));
    await assert.rejects(first, /sync cancelled/);
    await second;
    assert.equal(time.now(), 1_000);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const limiter = createRateLimiter({ perMinute: 1 });
    await assert.rejects(limiter.acquire(AbortSignal.abort(new Error('too late'))), /too late/);
  });

  it('scales down with windowMs on the real clock', async () => {
    const limiter = createRateLimiter({ perMinute: 4, windowMs: 40 });
    const started = performance.now();
    const starts: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, () => limiter.acquire().then(() => starts.push(performance.now() - started))),
    );
    // 10 requests at 4 per 40 ms: two waits of a full window.
    assert.ok(Math.max(...starts) >= 75, `finished after ${Math.max(...starts).toFixed(1)} ms`);
    // Measured when each caller resumes, a little after its grant: allow for that lag.
    assert.ok(busiestWindow(starts, 25) <= 4);
  });

  it('does not keep the process waiting once every waiter gave up', async () => {
    const limiter = createRateLimiter({ perMinute: 1, windowMs: 60_000 });
    await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort(new Error('shutdown'));
    await assert.rejects(waiting, /shutdown/);
    // If the pump's 60 s sleep were still armed, node:test would report this file as hanging.
  });

  it('waits on a timer by default, leaving the event loop free meanwhile', async () => {
    const limiter = createRateLimiter({ perMinute: 1, windowMs: 200, guardMs: 0 });
    await limiter.acquire();
    const order: string[] = [];
    const waiting = limiter.acquire().then(() => order.push('granted'));
    setTimeout(() => order.push('timer'), 1);
    await waiting;
    // A wait that spun instead of sleeping would hold the timer back until the grant.
    assert.deepEqual(order, ['timer', 'granted']);
  });

  it('keeps serving the queue when a waiter rejected by a failed sleep is aborted later', async () => {
    const time = fakeTime();
    let failNext = true;
    const sleep = async (ms: number, signal?: AbortSignal) => {
      if (failNext) {
        failNext = false;
        throw new Error('timer failed');
      }
      await time.sleep(ms, signal);
    };
    const limiter = createRateLimiter({ perMinute: 1, windowMs: 1_000, guardMs: 0, now: time.now, sleep });
    await limiter.acquire();
    const early = new AbortController();
    await assert.rejects(limiter.acquire(early.signal), /timer failed/);
    const later = limiter.acquire();
    // The early waiter is no longer queued: cancelling it must not take another's place.
    early.abort(new Error('cancelled after the fact'));
    // Served within a few event-loop turns of the fake clock; a later left unserved would
    // otherwise only show as this test timing out.
    let deadline: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      later.then(() => 'served'),
      new Promise((resolve) => {
        deadline = setTimeout(resolve, 5_000, 'left waiting');
      }),
    ]);
    clearTimeout(deadline);
    assert.equal(outcome, 'served');
    assert.equal(time.now(), 1_000);
  });

  it('refuses a budget below one', () => {
    assert.throws(() => createRateLimiter({ perMinute: 0 }), RangeError);
  });
});
