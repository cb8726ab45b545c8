/**
 * What Stryker found unpinned in rate-limit.ts (docs/mutation.md): the wait is computed
 * from the slot that frees first whatever order requests ended in; one loop serves the
 * queue (one pending sleep however many wait), and serves it again after it emptied; a
 * caller arriving when a slot frees does not pass those already queued; and the default
 * timer is cancelled when the last waiter gives up (no timer keeps the process alive).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRateLimiter } from '../../src/providers/rate-limit.ts';

/** A clock that moves only when told; sleeps are recorded and end only when released. */
function manualTime() {
  let now = 0;
  const pending: { ms: number; wake: () => void }[] = [];
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
    pending,
    sleep: (ms: number, signal?: AbortSignal) =>
      new Promise<void>((resolve, reject) => {
        signal?.throwIfAborted();
        const entry = {
          ms,
          wake: () => {
            pending.splice(pending.indexOf(entry), 1);
            resolve();
          },
        };
        pending.push(entry);
        signal?.addEventListener(
          'abort',
          () => {
            if (pending.includes(entry)) pending.splice(pending.indexOf(entry), 1);
            reject(signal.reason);
          },
          { once: true },
        );
      }),
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** Lets the limiter run until it sleeps; fails (rather than hangs) when it never does. */
async function nextSleep(time: ReturnType<typeof manualTime>) {
  for (let i = 0; i < 100 && time.pending.length === 0; i++) await turn();
  const sleep = time.pending[0];
  if (!sleep) assert.fail('the limiter left its queue unserved: no sleep pending');
  return sleep;
}
/** How many timers keep the process alive (unref'd ones are not counted). */
const liveTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('the rate limiter’s queue', () => {
  it('waits for the slot that frees first, whichever request ended first', async () => {
    const time = manualTime();
    const limiter = createRateLimiter({ perMinute: 2, windowMs: 90, now: time.now, sleep: time.sleep });
    const first = await limiter.acquire();
    const second = await limiter.acquire();
    // The second request ends at 5 ms (its slot frees at 95); the first is still in flight
    // at 60 ms (it frees one window after it ends: 150 at the earliest).
    time.advance(5);
    second();
    time.advance(55);
    const third = limiter.acquire();
    await turn();
    assert.deepEqual(
      time.pending.map((p) => p.ms),
      [35],
      'the wait runs to the earlier slot (95), not the later (150)',
    );
    first();
    time.advance(35);
    time.pending[0]?.wake();
    (await third)();
  });

  it('keeps one sleep pending however many wait, and serves the queue again after it emptied', async () => {
    const time = manualTime();
    const limiter = createRateLimiter({ perMinute: 1, windowMs: 1_000, now: time.now, sleep: time.sleep });
    for (let round = 0; round < 2; round++) {
      (await limiter.acquire())();
      const waiting = [limiter.acquire(), limiter.acquire(), limiter.acquire()];
      await turn();
      assert.equal(time.pending.length, 1, `round ${round}: one loop serves the queue`);
      for (const waiter of waiting) {
        const sleep = await nextSleep(time);
        time.advance(sleep.ms);
        sleep.wake();
        (await waiter)();
      }
      time.advance(1_000);
    }
  });

  it('does not let a newcomer pass the queue when a slot frees', async () => {
    const time = manualTime();
    const limiter = createRateLimiter({ perMinute: 1, windowMs: 1_000, now: time.now, sleep: time.sleep });
    (await limiter.acquire())();
    const order: string[] = [];
    const queued = limiter.acquire().then((done) => {
      order.push('queued');
      done();
    });
    await turn();
    // The slot is free now, but the pump has not woken yet when the newcomer arrives.
    time.advance(1_000);
    const newcomer = limiter.acquire().then((done) => {
      order.push('newcomer');
      done();
    });
    time.pending[0]!.wake();
    // Run the clock forward, sleep by sleep, until both are served.
    for (let i = 0; i < 20 && order.length < 2; i++) {
      const sleep = await nextSleep(time).catch(() => undefined);
      if (!sleep) continue;
      time.advance(sleep.ms);
      sleep.wake();
    }
    await Promise.all([queued, newcomer]);
    assert.deepEqual(order, ['queued', 'newcomer']);
  });

  it('cancels its own timer when the last waiter gives up', async () => {
    const limiter = createRateLimiter({ perMinute: 1, windowMs: 60_000 });
    (await limiter.acquire())();
    const before = liveTimers();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    assert.equal(liveTimers(), before + 1, 'the wait is a timer');
    controller.abort(new Error('shutdown'));
    await assert.rejects(waiting, /shutdown/);
    await turn();
    assert.equal(liveTimers(), before, 'no 60 s timer left behind');
  });
});
