/**
 * The renewals of a claim (claim-hold.ts) with a database literal: what a renewal that
 * cannot reach the database, or finds the claim gone, does to the sync; and that a
 * stopped hold sends nothing more.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Db } from '../../src/db/client.ts';
import { silentLogger } from '../../src/log.ts';
import type { Claim } from '../../src/sync/claim.ts';
import { ClaimLostError } from '../../src/sync/claim.ts';
import { holdClaim } from '../../src/sync/claim-hold.ts';
import { until } from '../support/faults.ts';

const claim: Claim = { eventUid: 'evt-1', token: '7', leaseSeconds: 1, holder: 'test:1', checkpoint: null };

/** A database whose every statement answers `answer()`, counting the calls. */
function fakeDb(answer: () => Promise<unknown[]>) {
  const calls = { n: 0 };
  const db = {
    execute: async () => {
      calls.n++;
      return answer();
    },
  } as unknown as Db;
  return { db, calls };
}

describe('holding a claim', () => {
  it('aborts the sync when a renewal finds the claim taken over or expired', async () => {
    const { db } = fakeDb(async () => []);
    const hold = holdClaim({ db, log: silentLogger }, { ...claim, leaseSeconds: 60 }, { renewEveryMs: 20 });
    await until('the hold to notice', () => hold.lost.aborted, 5_000);
    assert.ok(hold.lost.reason instanceof ClaimLostError);
    assert.match(
      hold.lost.reason.message,
      /^claim lost: the claim on event evt-1 \(token 7\) expired or was taken over/,
    );
    hold.stop();
  });

  it('aborts the sync once a whole lease passed without a successful renewal, the database unreachable', async () => {
    const { db, calls } = fakeDb(async () => {
      throw new Error('connection refused');
    });
    const hold = holdClaim({ db, log: silentLogger }, claim, { renewEveryMs: 100 });
    await until('the lease to run out', () => hold.lost.aborted, 5_000);
    assert.match(String(hold.lost.reason.message), /could not be renewed before its lease ran out/);
    assert.ok(calls.n >= 2, 'renewals were tried before giving up');
    hold.stop();
  });

  it('keeps the claim while renewals succeed, and sends nothing after stop()', async () => {
    const { db, calls } = fakeDb(async () => [{ held: 1 }]);
    const hold = holdClaim({ db, log: silentLogger }, claim, { renewEveryMs: 50 });
    await until('three renewals', () => calls.n >= 3, 5_000);
    // Longer than the 1 s lease: only the renewals keep it.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    assert.equal(hold.lost.aborted, false);
    hold.stop();
    const sent = calls.n;
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(calls.n, sent, 'no renewal after stop()');
    assert.equal(hold.lost.aborted, false, 'stopping is not losing');
  });

  it('counts a renewal answered late from when it was sent, so it gives up before the database expiry it set', async () => {
    // The database sets the new expiry when it runs the renewal, which is before its
    // answer arrives: counted from the answer, a slow round trip would let the process
    // believe in its claim for up to that round trip after the database had expired it.
    const leaseMs = 2_000;
    const answerAfterMs = 1_500;
    let answeredAt = 0;
    let renewals = 0;
    const db = {
      execute: async () => {
        renewals++;
        if (renewals > 1) throw new Error('connection refused');
        await new Promise((resolve) => setTimeout(resolve, answerAfterMs));
        answeredAt = performance.now();
        return [{ held: 1 }];
      },
    } as unknown as Db;
    const hold = holdClaim(
      { db, log: silentLogger },
      { ...claim, leaseSeconds: leaseMs / 1000 },
      { renewEveryMs: 100 },
    );
    await until('the lease to run out', () => hold.lost.aborted, 10_000);
    const lostAt = performance.now();
    hold.stop();
    assert.ok(answeredAt > 0, 'the first renewal was answered');
    // Timers never fire early: counted from the answer, lostAt >= answeredAt + lease.
    // Counted from the send it is about answerAfterMs earlier than that.
    assert.ok(
      lostAt < answeredAt + leaseMs,
      `gave up ${Math.round(lostAt - answeredAt)} ms after the answer, not before a lease (${leaseMs} ms) from it`,
    );
  });

  it('counts a fenced page write as a renewal', async () => {
    const { db } = fakeDb(async () => {
      throw new Error('connection refused');
    });
    const hold = holdClaim({ db, log: silentLogger }, claim, { renewEveryMs: 3_600_000 });
    // Page writes every 300 ms confirm the claim for longer than one lease.
    for (let i = 0; i < 5; i++) {
      hold.confirmed(performance.now());
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.equal(hold.lost.aborted, false);
    await until('the lease to run out after the writes stop', () => hold.lost.aborted, 5_000);
    hold.stop();
  });
});
