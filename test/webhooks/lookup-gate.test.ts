/**
 * gateLookups on a mocked clock: a lookup is reused for exactly one window, at most
 * maxPerMinute start in any minute, and a failed one is not kept.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gateLookups, LookupCappedError } from '../../src/webhooks/lookup-gate.ts';

function gate(options: { maxPerMinute?: number; reuseMs?: number } = {}) {
  let clock = 1_000_000;
  const calls: string[] = [];
  let fail = false;
  const lookup = gateLookups(
    async (id: string) => {
      calls.push(id);
      if (fail) throw new Error('database down');
      return `events of ${id}`;
    },
    { maxPerMinute: options.maxPerMinute ?? 100, reuseMs: options.reuseMs ?? 10_000, now: () => clock },
  );
  return {
    lookup,
    calls,
    advance: (ms: number) => {
      clock += ms;
    },
    failing: (value: boolean) => {
      fail = value;
    },
  };
}

describe('gateLookups', () => {
  it('answers a Luma event looked up within the window from that lookup, and looks it up again once the window passed', async () => {
    const g = gate({ reuseMs: 10_000 });
    assert.equal(await g.lookup('evt-1'), 'events of evt-1');
    g.advance(9_999);
    assert.equal(await g.lookup('evt-1'), 'events of evt-1');
    assert.deepEqual(g.calls, ['evt-1'], 'reused within the window');
    g.advance(1);
    assert.equal(await g.lookup('evt-1'), 'events of evt-1');
    assert.deepEqual(g.calls, ['evt-1', 'evt-1'], 'looked up again exactly one window later');
  });

  it('shares one lookup still on its way between deliveries of the same event', async () => {
    const g = gate();
    const [a, b] = await Promise.all([g.lookup('evt-1'), g.lookup('evt-1')]);
    assert.equal(a, b);
    assert.deepEqual(g.calls, ['evt-1']);
  });

  it('keeps other events’ lookups apart', async () => {
    const g = gate();
    assert.equal(await g.lookup('evt-1'), 'events of evt-1');
    assert.equal(await g.lookup('evt-2'), 'events of evt-2');
    assert.deepEqual(g.calls, ['evt-1', 'evt-2']);
  });

  it('starts at most maxPerMinute lookups in any minute, refusing the rest with LookupCappedError before any lookup', async () => {
    const g = gate({ maxPerMinute: 2, reuseMs: 1_000 });
    await g.lookup('evt-1');
    await g.lookup('evt-2');
    await assert.rejects(g.lookup('evt-3'), (err: unknown) => err instanceof LookupCappedError);
    assert.deepEqual(g.calls, ['evt-1', 'evt-2']);
    // A reused answer costs no lookup, so it is not capped.
    assert.equal(await g.lookup('evt-2'), 'events of evt-2');
    g.advance(60_000 - 1);
    await assert.rejects(g.lookup('evt-3'), LookupCappedError);
    g.advance(1);
    assert.equal(await g.lookup('evt-3'), 'events of evt-3', 'a minute after the first two');
    const capped = new LookupCappedError();
    assert.equal(capped.name, 'LookupCappedError');
  });

  it('does not count a capped delivery as a lookup started', async () => {
    const g = gate({ maxPerMinute: 1, reuseMs: 1_000 });
    await g.lookup('evt-1');
    for (let i = 0; i < 5; i++) await assert.rejects(g.lookup(`evt-x${i}`), LookupCappedError);
    g.advance(60_000);
    assert.equal(await g.lookup('evt-2'), 'events of evt-2');
  });

  it('does not keep a failed lookup: the next delivery tries again', async () => {
    const g = gate();
    g.failing(true);
    await assert.rejects(g.lookup('evt-1'), /database down/);
    await new Promise((resolve) => setImmediate(resolve));
    g.failing(false);
    assert.equal(await g.lookup('evt-1'), 'events of evt-1');
    assert.deepEqual(g.calls, ['evt-1', 'evt-1']);
  });

  it('uses the real clock when none is given', async () => {
    let calls = 0;
    const lookup = gateLookups(
      async () => {
        calls++;
        return calls;
      },
      { maxPerMinute: 10, reuseMs: 60_000 },
    );
    assert.equal(await lookup('evt-1'), 1);
    assert.equal(await lookup('evt-1'), 1, 'reused: the real clock has not moved a minute');
  });
});
