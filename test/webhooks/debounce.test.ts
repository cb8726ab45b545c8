import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { SyncableEvent } from '../../src/schedule/discover.ts';
import { WebhookDebouncer } from '../../src/webhooks/debounce.ts';

const WINDOW = 10_000;
const START = Date.UTC(2031, 5, 1, 12, 0, 0);
const event = (uid: string): SyncableEvent => ({
  eventUid: uid,
  externalEventId: `evt-${uid}`,
  locationUid: 'loc',
  providerType: 'LUMA',
});

function debouncer(caps: { perEvent?: number; perMinute?: number; requestsPerMinute?: number } = {}) {
  const sent: Array<{ uid: string; window: string; at: number; early: boolean }> = [];
  const errors: unknown[] = [];
  const d = new WebhookDebouncer({
    windowMs: WINDOW,
    maxPerEventPerHour: caps.perEvent ?? 100,
    maxPerMinute: caps.perMinute ?? 100,
    ...(caps.requestsPerMinute === undefined ? {} : { requestsPerMinute: caps.requestsPerMinute }),
    send: async (e, windowStart, early) => {
      sent.push({ uid: e.eventUid, window: windowStart.toISOString(), at: Date.now(), early });
    },
    log: { error: (obj: unknown) => errors.push(obj) } as never,
  });
  return { d, sent, errors };
}

describe('the webhook debouncer', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: START + 2_000 }));
  afterEach(() => mock.timers.reset());

  it('turns a burst within one window into one send at the window’s end, keyed by the window', async () => {
    const { d, sent } = debouncer();
    assert.equal(d.offer(event('a')), 'scheduled');
    mock.timers.tick(3_000);
    assert.equal(d.offer(event('a')), 'coalesced');
    assert.equal(d.offer(event('b')), 'scheduled');
    mock.timers.tick(4_999);
    assert.equal(sent.length, 0, 'nothing before the window ends');
    mock.timers.tick(1);
    await d.stop();
    assert.deepEqual(
      sent.map((s) => [s.uid, s.window, s.at - START]),
      [
        ['a', new Date(START).toISOString(), WINDOW],
        ['b', new Date(START).toISOString(), WINDOW],
      ],
    );
  });

  it('schedules a new send for a delivery after the window ended', async () => {
    const { d, sent } = debouncer();
    d.offer(event('a'));
    mock.timers.tick(8_000);
    await Promise.resolve();
    assert.equal(d.offer(event('a')), 'scheduled', 'the first send went: a new window');
    mock.timers.tick(WINDOW);
    await d.stop();
    assert.deepEqual(
      sent.map((s) => s.window),
      [new Date(START).toISOString(), new Date(START + WINDOW).toISOString()],
    );
  });

  it('caps the sends of one event per hour and of all events per minute', async () => {
    const perEvent = debouncer({ perEvent: 2 });
    for (let i = 0; i < 2; i++) {
      assert.equal(perEvent.d.offer(event('a')), 'scheduled');
      mock.timers.tick(WINDOW);
    }
    assert.equal(perEvent.d.offer(event('a')), 'capped');
    assert.equal(perEvent.d.offer(event('b')), 'scheduled', 'other events are not held back');
    mock.timers.tick(3_600_000);
    assert.equal(perEvent.d.offer(event('a')), 'scheduled', 'an hour later it may go again');
    await perEvent.d.stop();

    const global = debouncer({ perMinute: 3 });
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((uid) => global.d.offer(event(uid))),
      ['scheduled', 'scheduled', 'scheduled', 'capped'],
    );
    mock.timers.tick(60_000);
    assert.equal(global.d.offer(event('d')), 'scheduled');
    await global.d.stop();
  });

  it('lets an event go again exactly one hour after its capped send, not a millisecond sooner', async () => {
    const { d } = debouncer({ perEvent: 1 });
    assert.equal(d.offer(event('a')), 'scheduled');
    mock.timers.tick(WINDOW);
    mock.timers.tick(3_600_000 - WINDOW - 1);
    assert.equal(d.offer(event('a')), 'capped');
    mock.timers.tick(1);
    assert.equal(d.offer(event('a')), 'scheduled');
    await d.stop();
  });

  it('sends a delivery offered after stop() at once, without waiting for its window', async () => {
    const { d, sent } = debouncer();
    await d.stop();
    assert.equal(d.offer(event('late')), 'scheduled');
    assert.equal(d.pending, 0, 'nothing waits for a window');
    await new Promise((resolve) => setImmediate(resolve)); // the clock has not moved
    assert.deepEqual(
      sent.map((s) => s.uid),
      ['late'],
    );
  });

  it('sends what still waits when stopped, so an acknowledged delivery is not dropped', async () => {
    const { d, sent } = debouncer();
    d.offer(event('a'));
    assert.equal(d.pending, 1);
    await d.stop();
    assert.deepEqual(
      sent.map((s) => s.uid),
      ['a'],
    );
    assert.equal(d.pending, 0);
  });

  it('sends a waiting delivery once when stopped: its window timer no longer fires', async () => {
    const { d, sent } = debouncer();
    d.offer(event('a'));
    await d.stop();
    mock.timers.tick(2 * WINDOW);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sent.length, 1);
  });

  it('waits in stop() for every send in flight, begun by stop or by a window that ended', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const finished: string[] = [];
    const d = new WebhookDebouncer({
      windowMs: WINDOW,
      maxPerEventPerHour: 10,
      maxPerMinute: 10,
      send: async (e) => {
        await gate;
        finished.push(e.eventUid);
      },
      log: { error: () => {} } as never,
    });
    d.offer(event('by-window'));
    mock.timers.tick(WINDOW); // its window ends: the send starts and waits at the gate
    d.offer(event('by-stop'));
    let stopped = false;
    const stopping = d.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stopped, false, 'stop() returned with sends still in flight');
    release();
    await stopping;
    assert.deepEqual(finished.sort(), ['by-stop', 'by-window']);
  });

  it('logs a send that fails, without throwing at the caller', async () => {
    const errors: unknown[] = [];
    const d = new WebhookDebouncer({
      windowMs: WINDOW,
      maxPerEventPerHour: 10,
      maxPerMinute: 10,
      send: async () => {
        throw new Error('queue unreachable');
      },
      log: { error: (obj: unknown) => errors.push(obj) } as never,
    });
    d.offer(event('a'));
    await d.stop();
    assert.equal(errors.length, 1);
    const logged = errors[0] as { err?: Error; eventUid?: string };
    assert.equal(logged.eventUid, 'a');
    assert.match(logged.err?.message ?? '', /queue unreachable/);
  });

  it('marks only a send at its window’s end as on time: one sent by stop(), or offered after it, is early', async () => {
    const { d, sent } = debouncer();
    d.offer(event('on-time'));
    mock.timers.tick(WINDOW);
    d.offer(event('by-stop'));
    await d.stop();
    d.offer(event('after-stop'));
    await new Promise((resolve) => setImmediate(resolve));
    // An early send must not take the window's deduplication id (issue 21): the flag decides it.
    assert.deepEqual(
      sent.map((s) => [s.uid, s.early]),
      [
        ['on-time', false],
        ['by-stop', true],
        ['after-stop', true],
      ],
    );
  });

  it('schedules sends within the Luma requests a minute allows, summing each send’s cost, up to the limit exactly', async () => {
    const { d } = debouncer({ requestsPerMinute: 10 });
    assert.equal(d.offer(event('a'), 4), 'scheduled');
    assert.equal(d.offer(event('b'), 4), 'scheduled');
    assert.equal(d.offer(event('c'), 3), 'capped', '11 requests would exceed 10');
    assert.equal(d.offer(event('d'), 2), 'scheduled', 'exactly 10 is within the limit');
    assert.equal(d.offer(event('e'), 1), 'capped');
    await d.stop();
  });

  it('counts a send’s cost against the requests a minute for exactly one minute', async () => {
    const { d } = debouncer({ requestsPerMinute: 5 });
    assert.equal(d.offer(event('a'), 5), 'scheduled');
    mock.timers.tick(60_000 - 1);
    assert.equal(d.offer(event('b'), 1), 'capped', 'still within the minute');
    mock.timers.tick(1);
    assert.equal(d.offer(event('b'), 5), 'scheduled', 'a minute later the whole limit is free again');
    await d.stop();
  });

  it('lets any cost through when no requests-a-minute limit is given', async () => {
    const { d } = debouncer();
    assert.equal(d.offer(event('a'), 1_000_000), 'scheduled');
    assert.equal(d.offer(event('b'), 1_000_000), 'scheduled');
    await d.stop();
  });

  it('frees the all-events cap exactly one minute after a send was scheduled', async () => {
    const { d } = debouncer({ perMinute: 1 });
    assert.equal(d.offer(event('a')), 'scheduled');
    mock.timers.tick(60_000 - 1);
    assert.equal(d.offer(event('b')), 'capped');
    mock.timers.tick(1);
    assert.equal(d.offer(event('b')), 'scheduled');
    await d.stop();
  });
});
