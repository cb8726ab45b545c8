/**
 * What Stryker found unpinned in claim-hold.ts (docs/mutation.md): how often a hold renews
 * when the caller names no interval; that a hold which gave its claim up sends nothing
 * more; that a late answer (an old renewal, or one arriving after stop()) changes nothing;
 * that a failed renewal is logged; that a hold never keeps the process alive, and reads
 * performance.now() when given no clock.
 * A database literal stands in for PostgreSQL. The clock and timers are mocked and moved
 * on by the test, so every time asserted is exact (docs/load-flakes.md); the last two tests
 * run on the real ones, and assert nothing a slow machine could change.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { Db } from '../../src/db/client.ts';
import { errorKind, isPermanent } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { type Claim, ClaimLostError } from '../../src/sync/claim.ts';
import { holdClaim } from '../../src/sync/claim-hold.ts';
import { captureLogger } from '../support/sqs-queue.ts';

const claim: Claim = { eventUid: 'evt-1', token: '7', leaseSeconds: 3, holder: 'test:1', checkpoint: null };

/** The mocked clock the hold reads; its timers run on the same one. */
const now = () => Date.now();

/**
 * Moves the mocked clock on by `ms`, one millisecond at a time, letting the promise
 * callbacks of whatever fired run before the next (setImmediate is not mocked).
 */
async function advance(ms: number) {
  for (let i = 0; i < ms; i++) {
    mock.timers.tick(1);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A database whose every statement answers `answer()`, recording when each was sent. */
function fakeDb(answer: () => Promise<unknown[]>) {
  const sent: number[] = [];
  const db = {
    execute: async () => {
      sent.push(now());
      return answer();
    },
  } as unknown as Db;
  return { db, sent };
}

const refused = async (): Promise<unknown[]> => {
  throw new Error('connection refused');
};

/** One renewal the test answers when it likes. */
function pendingAnswer() {
  let answer!: (rows: unknown[]) => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<unknown[]>((resolve, reject) => {
    answer = resolve;
    fail = reject;
  });
  return { promise, answer, fail };
}

/** How many timers keep the process alive (unref'd ones are not counted). */
const liveTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('holding a claim, its limits', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 0 }));
  afterEach(() => mock.timers.reset());

  it('renews every third of the lease when no interval is given: not sooner, and well inside the lease', async () => {
    const { db, sent } = fakeDb(async () => [{ held: 1 }]);
    const hold = holdClaim({ db, log: silentLogger }, claim, { now });
    try {
      // A third of 3 s is 1 s: two renewals may fail before the lease could lapse.
      await advance(999);
      assert.deepEqual(sent, [], 'no renewal before a third of the lease');
      await advance(2_001);
      assert.deepEqual(sent, [1_000, 2_000, 3_000]);
      assert.equal(hold.lost.aborted, false);
    } finally {
      hold.stop();
    }
  });

  it('renews a lease that is no whole number of thirds at the third rounded down', async () => {
    const { db, sent } = fakeDb(async () => [{ held: 1 }]);
    const hold = holdClaim({ db, log: silentLogger }, { ...claim, leaseSeconds: 2 }, { now });
    try {
      // A third of 2 s is 666.7 ms: rounded down, never up, so three renewals fit in the lease.
      await advance(2_000);
      assert.deepEqual(sent, [666, 1_332, 1_998]);
      assert.equal(hold.lost.aborted, false);
    } finally {
      hold.stop();
    }
  });

  it('sends no renewal once the claim is given up, though the sync has not stopped the hold yet', async () => {
    let reachable = false;
    const { db, sent } = fakeDb(() => (reachable ? Promise.resolve([{ held: 1 }]) : refused()));
    // A 1 s lease, renewals every 50 ms, none succeeding: the hold gives up at 1 s.
    const hold = holdClaim({ db, log: silentLogger }, { ...claim, leaseSeconds: 1 }, { renewEveryMs: 50, now });
    try {
      await advance(1_000);
      assert.equal(hold.lost.aborted, true);
      // The database answers again: a renewal now would extend a claim its sync gave up.
      reachable = true;
      const afterLoss = sent.length;
      assert.equal(afterLoss, 19, 'one renewal every 50 ms until the lease ran out');
      await advance(1_000);
      assert.equal(sent.length - afterLoss, 0, 'renewals sent after the claim was given up');
    } finally {
      hold.stop();
    }
  });

  it('reports a lost claim retryably, under the kind claim_lost', async () => {
    const { db } = fakeDb(async () => []);
    const hold = holdClaim({ db, log: silentLogger }, claim, { renewEveryMs: 20, now });
    try {
      await advance(20);
      const reason = hold.lost.reason;
      assert.ok(reason instanceof ClaimLostError);
      assert.equal(errorKind(reason), 'claim_lost');
      assert.equal(isPermanent(reason), false);
    } finally {
      hold.stop();
    }
  });

  it('keeps the later of two confirmations: an older renewal answered late does not bring the deadline forward', async () => {
    const { db } = fakeDb(refused);
    const hold = holdClaim({ db, log: silentLogger }, { ...claim, leaseSeconds: 5 }, { renewEveryMs: 3_600_000, now });
    try {
      await advance(1_000);
      hold.confirmed(1_000);
      // A renewal sent 4.8 s ago answers only now: taken, its lease would end in 0.2 s.
      hold.confirmed(1_000 - 4_800);
      await advance(4_999);
      assert.equal(hold.lost.aborted, false, 'the lease counts from the latest confirmation (1 s) to 6 s');
      await advance(1);
      assert.equal(hold.lost.aborted, true);
    } finally {
      hold.stop();
    }
  });

  it('ignores a renewal answered after stop(): a claim found gone then is not reported lost', async () => {
    const renewal = pendingAnswer();
    const { db, sent } = fakeDb(() => renewal.promise);
    const hold = holdClaim({ db, log: silentLogger }, claim, { renewEveryMs: 20, now });
    await advance(20);
    assert.deepEqual(sent, [20], 'a renewal in flight');
    hold.stop();
    renewal.answer([]);
    await advance(5_000);
    assert.equal(hold.lost.aborted, false, 'stopping is not losing, whatever a late answer says');
  });

  it('logs a failed renewal with its event, but not one that fails after stop()', async () => {
    const failing = captureLogger('warn');
    const down = fakeDb(refused);
    const hold = holdClaim({ db: down.db, log: failing.log }, claim, { renewEveryMs: 20, now });
    await advance(20);
    hold.stop();
    assert.equal(failing.lines.length, 1, 'the one renewal sent failed');
    assert.equal(failing.lines[0]?.msg, 'claim renewal failed');
    assert.equal(failing.lines[0]?.eventUid, 'evt-1');

    const quiet = captureLogger('warn');
    const renewal = pendingAnswer();
    const slow = fakeDb(() => renewal.promise);
    const stopped = holdClaim({ db: slow.db, log: quiet.log }, claim, { renewEveryMs: 20, now });
    await advance(20);
    assert.deepEqual(slow.sent, [40], 'a renewal in flight (the hold began at 20 ms)');
    stopped.stop();
    renewal.fail(new Error('connection reset'));
    await advance(100);
    assert.deepEqual(quiet.lines, [], 'a stopped hold has nothing to warn about');
  });
});

describe('holding a claim, on the real clock and timers', () => {
  it('never keeps the process alive: its renewal timer and lease deadline do not hold the event loop', () => {
    const { db } = fakeDb(async () => [{ held: 1 }]);
    const before = liveTimers();
    const hold = holdClaim({ db, log: silentLogger }, claim);
    try {
      assert.equal(liveTimers(), before, 'after holdClaim');
      hold.confirmed(performance.now());
      assert.equal(liveTimers(), before, 'after a confirmation moved the deadline');
    } finally {
      hold.stop();
    }
  });

  it('reads performance.now() when given no clock: a page write confirmed on it keeps a minute’s lease', async () => {
    // The confirmation, read on another clock, would set the deadline at once (or never).
    // Only a stall of the whole minute could lose the claim here, as it should.
    const { db, sent } = fakeDb(async () => [{ held: 1 }]);
    const hold = holdClaim({ db, log: silentLogger }, { ...claim, leaseSeconds: 60 });
    try {
      hold.confirmed(performance.now());
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(hold.lost.aborted, false);
      assert.deepEqual(sent, [], 'the first renewal is 20 s away');
    } finally {
      hold.stop();
    }
  });
});
