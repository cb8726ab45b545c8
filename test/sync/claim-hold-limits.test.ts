/**
 * What Stryker found unpinned in claim-hold.ts (docs/mutation.md): how often a hold renews
 * when the caller names no interval; that a hold which gave its claim up sends nothing
 * more; that a late answer (an old renewal, or one arriving after stop()) changes nothing;
 * that a failed renewal is logged; that a hold never keeps the process alive.
 * A database literal stands in for PostgreSQL; only lower bounds on time are asserted
 * (a timer never fires early), never upper ones.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Db } from '../../src/db/client.ts';
import { errorKind, isPermanent } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { type Claim, ClaimLostError } from '../../src/sync/claim.ts';
import { holdClaim } from '../../src/sync/claim-hold.ts';
import { until } from '../support/faults.ts';
import { captureLogger } from '../support/sqs-queue.ts';

const claim: Claim = { eventUid: 'evt-1', token: '7', leaseSeconds: 3, holder: 'test:1', checkpoint: null };

/** A database whose every statement answers `answer()`, recording when each was sent. */
function fakeDb(answer: () => Promise<unknown[]>) {
  const sent: number[] = [];
  const db = {
    execute: async () => {
      sent.push(performance.now());
      return answer();
    },
  } as unknown as Db;
  return { db, sent };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
  it('renews every third of the lease when no interval is given: not sooner, and well inside the lease', async () => {
    const { db, sent } = fakeDb(async () => [{ held: 1 }]);
    const started = performance.now();
    const hold = holdClaim({ db, log: silentLogger }, claim);
    try {
      // A third of 3 s is 1 s: the first renewal cannot come earlier, and must come long
      // before the lease (3 s) could lapse; allow for a loaded machine up to 2.5 s.
      await until('the first renewal', () => sent.length > 0, 2_500);
      assert.ok(
        sent[0]! - started >= 900,
        `first renewal after ${Math.round(sent[0]! - started)} ms, not a third of the lease`,
      );
      assert.equal(hold.lost.aborted, false);
    } finally {
      hold.stop();
    }
  });

  it('sends no renewal once the claim is given up, though the sync has not stopped the hold yet', async () => {
    let reachable = false;
    const { db, sent } = fakeDb(async () => {
      if (!reachable) throw new Error('connection refused');
      return [{ held: 1 }];
    });
    // A 1 s lease, renewals every 50 ms, none succeeding: the hold gives up after the lease.
    const hold = holdClaim({ db, log: silentLogger }, { ...claim, leaseSeconds: 1 }, { renewEveryMs: 50 });
    try {
      await until('the lease to run out', () => hold.lost.aborted, 5_000);
      // The database answers again: a renewal now would extend a claim its sync gave up.
      reachable = true;
      const afterLoss = sent.length;
      await sleep(400);
      assert.equal(sent.length - afterLoss, 0, 'renewals sent after the claim was given up');
    } finally {
      hold.stop();
    }
  });

  it('reports a lost claim retryably, under the kind claim_lost', async () => {
    const { db } = fakeDb(async () => []);
    const hold = holdClaim({ db, log: silentLogger }, claim, { renewEveryMs: 20 });
    try {
      await until('the hold to notice', () => hold.lost.aborted, 5_000);
      const reason = hold.lost.reason;
      assert.ok(reason instanceof ClaimLostError);
      assert.equal(errorKind(reason), 'claim_lost');
      assert.equal(isPermanent(reason), false);
    } finally {
      hold.stop();
    }
  });

  it('keeps the later of two confirmations: an older renewal answered late does not bring the deadline forward', async () => {
    const { db } = fakeDb(async () => {
      throw new Error('connection refused');
    });
    const hold = holdClaim({ db, log: silentLogger }, { ...claim, leaseSeconds: 5 }, { renewEveryMs: 3_600_000 });
    try {
      const now = performance.now();
      hold.confirmed(now);
      // A renewal sent 4.8 s ago answers only now: taken, its lease would end in 0.2 s.
      hold.confirmed(now - 4_800);
      await sleep(1_000);
      assert.equal(hold.lost.aborted, false, 'the lease counts from the latest confirmation');
    } finally {
      hold.stop();
    }
  });

  it('ignores a renewal answered after stop(): a claim found gone then is not reported lost', async () => {
    const renewal = pendingAnswer();
    const { db, sent } = fakeDb(() => renewal.promise);
    const hold = holdClaim({ db, log: silentLogger }, claim, { renewEveryMs: 20 });
    await until('a renewal in flight', () => sent.length > 0, 5_000);
    hold.stop();
    renewal.answer([]);
    await sleep(100);
    assert.equal(hold.lost.aborted, false, 'stopping is not losing, whatever a late answer says');
  });

  it('logs a failed renewal with its event, but not one that fails after stop()', async () => {
    const failing = captureLogger('warn');
    const down = fakeDb(async () => {
      throw new Error('connection refused');
    });
    const hold = holdClaim({ db: down.db, log: failing.log }, claim, { renewEveryMs: 20 });
    await until('a failed renewal to be logged', () => failing.lines.length > 0, 5_000);
    hold.stop();
    assert.equal(failing.lines[0]?.msg, 'claim renewal failed');
    assert.equal(failing.lines[0]?.eventUid, 'evt-1');

    const quiet = captureLogger('warn');
    const renewal = pendingAnswer();
    const slow = fakeDb(() => renewal.promise);
    const stopped = holdClaim({ db: slow.db, log: quiet.log }, claim, { renewEveryMs: 20 });
    await until('a renewal in flight', () => slow.sent.length > 0, 5_000);
    stopped.stop();
    renewal.fail(new Error('connection reset'));
    await sleep(100);
    assert.deepEqual(quiet.lines, [], 'a stopped hold has nothing to warn about');
  });

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
});
