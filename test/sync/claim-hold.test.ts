/**
 * The renewals of a claim (claim-hold.ts) with a database literal: what a renewal that
 * cannot reach the database, or finds the claim gone, does to the sync; and that a
 * stopped hold sends nothing more.
 *
 * The clock and the hold's timers are mocked and moved on by the test one millisecond at
 * a time, so each assertion names the exact millisecond a renewal is sent or the claim is
 * given up: a paused or loaded machine cannot move either (docs/load-flakes.md).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { Db } from '../../src/db/client.ts';
import { silentLogger } from '../../src/log.ts';
import type { Claim } from '../../src/sync/claim.ts';
import { ClaimLostError } from '../../src/sync/claim.ts';
import { holdClaim } from '../../src/sync/claim-hold.ts';

const claim: Claim = { eventUid: 'evt-1', token: '7', leaseSeconds: 1, holder: 'test:1', checkpoint: null };

/** The mocked clock the hold reads; its timers run on the same one. */
const now = () => Date.now();

/**
 * Moves the mocked clock on by `ms`, one millisecond at a time, letting the promise
 * callbacks of whatever fired run before the next (setImmediate is not mocked): a renewal
 * the database answers at once is answered at the millisecond it was sent.
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

describe('holding a claim', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 0 }));
  afterEach(() => mock.timers.reset());

  it('aborts the sync when a renewal finds the claim taken over or expired, and renews no more', async () => {
    const { db, sent } = fakeDb(async () => []);
    const hold = holdClaim({ db, log: silentLogger }, { ...claim, leaseSeconds: 60 }, { renewEveryMs: 20, now });
    await advance(19);
    assert.deepEqual(sent, [], 'nothing before the first interval');
    assert.equal(hold.lost.aborted, false);
    await advance(1);
    assert.deepEqual(sent, [20]);
    assert.ok(hold.lost.reason instanceof ClaimLostError, 'lost on the answer of the first renewal');
    assert.match(
      hold.lost.reason.message,
      /^claim lost: the claim on event evt-1 \(token 7\) expired or was taken over/,
    );
    // A renewal now could extend the claim of the sync that took it over.
    await advance(1_000);
    assert.deepEqual(sent, [20], 'no renewal after the takeover was seen');
    hold.stop();
  });

  it('aborts the sync exactly a lease after the last confirmation when no renewal reaches the database', async () => {
    const { db, sent } = fakeDb(refused);
    const hold = holdClaim({ db, log: silentLogger }, claim, { renewEveryMs: 100, now });
    await advance(999);
    assert.deepEqual(sent, [100, 200, 300, 400, 500, 600, 700, 800, 900], 'renewals were tried before giving up');
    assert.equal(hold.lost.aborted, false, 'the lease (1 s, from the start) has not run out yet');
    await advance(1);
    assert.match(String(hold.lost.reason.message), /could not be renewed before its lease ran out/);
    hold.stop();
  });

  it('keeps the claim while renewals succeed, each extending the lease, and sends nothing after stop()', async () => {
    const { db, sent } = fakeDb(async () => [{ held: 1 }]);
    const hold = holdClaim({ db, log: silentLogger }, claim, { renewEveryMs: 50, now });
    // Three leases of 1 s: only the renewals keep it.
    await advance(3_000);
    assert.equal(sent.length, 60, 'one renewal every 50 ms');
    assert.deepEqual(sent.slice(0, 3), [50, 100, 150]);
    assert.equal(hold.lost.aborted, false);
    hold.stop();
    await advance(3_000);
    assert.equal(sent.length, 60, 'no renewal after stop()');
    assert.equal(hold.lost.aborted, false, 'stopping is not losing');
  });

  it('counts a renewal answered late from when it was sent, so it gives up before the database expiry it set', async () => {
    // The database sets the new expiry when it runs the renewal, which is before its
    // answer arrives: counted from the answer, a slow round trip would let the process
    // believe in its claim for up to that round trip after the database had expired it.
    let answer!: (rows: unknown[]) => void;
    const firstAnswer = new Promise<unknown[]>((resolve) => {
      answer = resolve;
    });
    const { db, sent } = fakeDb(() => (sent.length === 1 ? firstAnswer : refused()));
    const hold = holdClaim({ db, log: silentLogger }, { ...claim, leaseSeconds: 2 }, { renewEveryMs: 100, now });
    // Sent at 100 ms, answered at 1600 ms; every later renewal fails.
    await advance(1_600);
    answer([{ held: 1 }]);
    await advance(499);
    assert.equal(hold.lost.aborted, false, 'held until a lease after the send: 2100 ms');
    await advance(1);
    assert.match(String(hold.lost.reason.message), /could not be renewed before its lease ran out/);
    assert.equal(sent[0], 100);
    hold.stop();
  });

  it('counts a fenced page write as a renewal, from the moment the write was sent', async () => {
    const { db, sent } = fakeDb(refused);
    const hold = holdClaim({ db, log: silentLogger }, claim, { renewEveryMs: 3_600_000, now });
    // Page writes every 300 ms confirm the claim for longer than one lease; the last one
    // was sent at 1000 ms but is confirmed only at 1200 ms.
    for (let i = 0; i < 4; i++) {
      hold.confirmed(now());
      await advance(300);
    }
    hold.confirmed(1_000);
    await advance(799);
    assert.equal(hold.lost.aborted, false, 'held until a lease after the last write was sent: 2000 ms');
    await advance(1);
    assert.equal(hold.lost.aborted, true, 'lost a lease after the writes stopped');
    assert.deepEqual(sent, [], 'no renewal was due');
    hold.stop();
  });
});
