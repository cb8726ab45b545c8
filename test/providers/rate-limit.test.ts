import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRateLimiter, type RequestBudget } from '../../src/providers/rate-limit.ts';
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

/** A request that has ended as soon as it was granted (an instant answer). */
const instant = async (limiter: RequestBudget, signal?: AbortSignal) => (await limiter.acquire(signal))();

describe('createRateLimiter', () => {
  it('lets the first perMinute requests start at once', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ perMinute: 5, now: time.now, sleep: time.sleep });
    for (let i = 0; i < 5; i++) await instant(limiter);
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
        await instant(limiter);
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
      await instant(limiter);
      starts.push(time.now());
    }
    assert.ok(busiestWindow(starts, 60_000) <= 7, `busiest window held ${busiestWindow(starts, 60_000)}`);
  });

  it('adds no guard to the window by default, and guardMs when given', async () => {
    for (const [guardMs, expected] of [
      [undefined, 1_000],
      [20, 1_020],
    ] as const) {
      const time = fakeTime();
      const limiter = createRateLimiter({ perMinute: 2, windowMs: 1_000, guardMs, now: time.now, sleep: time.sleep });
      await instant(limiter);
      await instant(limiter);
      await instant(limiter);
      assert.equal(time.now(), expected);
    }
  });

  it('counts a request until one window after it ended, not after it was granted (it reached the server late)', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ perMinute: 1, windowMs: 1_000, now: time.now, sleep: time.sleep });
    const done = await limiter.acquire();
    // The answer comes 300 ms after the grant: the request may have reached Luma just before.
    time.advance(300);
    done();
    await instant(limiter);
    assert.equal(time.now(), 1_300);
  });

  it('holds the slot of a request in flight, and counts one never reported as ended holdMs after its grant', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({
      perMinute: 1,
      windowMs: 1_000,
      holdMs: 5_000,
      now: time.now,
      sleep: time.sleep,
    });
    await limiter.acquire(); // its end is never reported
    await instant(limiter);
    assert.equal(time.now(), 6_000);
    // Every wait was a lower bound: one window from when it was computed, never past the slot's freeing.
    assert.ok(time.sleeps.every((ms) => ms <= 1_000));
  });

  it('recomputes the wait as soon as a request in flight ends', async () => {
    const time = fakeTime();
    let sleeps = 0;
    const limiter = createRateLimiter({
      perMinute: 1,
      windowMs: 1_000,
      now: time.now,
      // The first wait (a lower bound while the request is in flight) ends only when woken.
      sleep: (ms, signal) =>
        ++sleeps > 1
          ? time.sleep(ms, signal)
          : new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason))),
    });
    const done = await limiter.acquire();
    const next = instant(limiter);
    await new Promise((resolve) => setImmediate(resolve));
    time.advance(200);
    done();
    await next;
    assert.equal(time.now(), 1_200);
  });

  it('reports an end once: a second call does not move it', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ perMinute: 1, windowMs: 1_000, now: time.now, sleep: time.sleep });
    const done = await limiter.acquire();
    done();
    time.advance(500);
    done();
    await instant(limiter);
    assert.equal(time.now(), 1_000);
  });

  it('serves waiters in arrival order', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ perMinute: 1, windowMs: 1_000, guardMs: 0, now: time.now, sleep: time.sleep });
    const order: number[] = [];
    await Promise.all([1, 2, 3, 4].map((n) => instant(limiter).then(() => order.push(n))));
    assert.deepEqual(order, [1, 2, 3, 4]);
    assert.equal(time.now(), 3_000);
  });

  it('rejects an aborted waiter with its reason and gives its turn to the next', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ perMinute: 1, windowMs: 1_000, guardMs: 0, now: time.now, sleep: time.sleep });
    await instant(limiter);
    const controller = new AbortController();
    const first = instant(limiter, controller.signal);
    const second = instant(limiter);
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
      Array.from({ length: 10 }, () => instant(limiter).then(() => starts.push(performance.now() - started))),
    );
    // 10 requests at 4 per 40 ms: two waits of a full window.
    assert.ok(Math.max(...starts) >= 75, `finished after ${Math.max(...starts).toFixed(1)} ms`);
    // Measured when each caller resumes, a little after its grant: allow for that lag.
    assert.ok(busiestWindow(starts, 25) <= 4);
  });

  it('does not keep the process waiting once every waiter gave up', async () => {
    const limiter = createRateLimiter({ perMinute: 1, windowMs: 60_000 });
    await instant(limiter);
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort(new Error('shutdown'));
    await assert.rejects(waiting, /shutdown/);
    // If the pump's 60 s sleep were still armed, node:test would report this file as hanging.
  });

  it('waits on a timer by default, leaving the event loop free meanwhile', async () => {
    const limiter = createRateLimiter({ perMinute: 1, windowMs: 200, guardMs: 0 });
    (await limiter.acquire())(); // the request ended at once: its slot frees one window later
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
    (await limiter.acquire())();
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
