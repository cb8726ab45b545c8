/**
 * What Stryker found unpinned in claim.ts (docs/mutation.md): the contract of renewClaim
 * (true only while the claim is this token's and unexpired), the checkpoint a claim is
 * granted with (none until a page recorded a cursor, none once the list ended), the
 * holder named by default, and a claim row that vanished between the grant's two
 * statements. Against PostgreSQL, except the last (a database literal forces the race).
 */
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { sql as sqlText } from 'drizzle-orm';
import type { Db } from '../../src/db/client.ts';
import { withTransaction } from '../../src/db/transaction.ts';
import {
  acquireClaim,
  type Claim,
  EventSyncRunningError,
  extendFencedClaim,
  fenceClaim,
  fenceUpdate,
  releaseClaim,
  renewClaim,
} from '../../src/sync/claim.ts';
import { createTestDatabase } from '../support/db.ts';

const database = await createTestDatabase({ label: 'claim_edges' });
const { db, sql } = database;
let n = 0;
const eventUid = () => `evt-claim-edges-${++n}`;

/** What the lease running out under a paused holder leaves in the database. */
async function lapse(uid: string) {
  await sql`UPDATE luma_guest_sync.event_claim SET expires_at = clock_timestamp() - interval '1 second'
    WHERE event_uid = ${uid}`;
}

describe('renewing a claim', () => {
  it('renews a claim that is still this token’s, and refuses once it was taken over or has expired', async () => {
    const uid = eventUid();
    const first = await acquireClaim(db, uid, { leaseSeconds: 60, holder: 'first:1' });
    assert.equal(await renewClaim(db, first), true, 'held: renewed');

    await lapse(uid);
    assert.equal(await renewClaim(db, first), false, 'expired: not renewed back to life');

    const second = await acquireClaim(db, uid, { leaseSeconds: 60, holder: 'second:1' });
    assert.equal(await renewClaim(db, first), false, 'taken over: the old token renews nothing');
    assert.equal(await renewClaim(db, second), true);
    await releaseClaim(db, second, { clearCheckpoint: true });
  });
});

describe('extending a claim inside the transaction that fenced it', () => {
  it('holds the claim for a lease from its end, though the transaction outlasted the lease; never another token’s', async () => {
    const uid = eventUid();
    const claim = await acquireClaim(db, uid, { leaseSeconds: 1, holder: 'finish:1' });
    await withTransaction(db, async (tx) => {
      await fenceClaim(tx, claim);
      // The lease the fence set runs out inside the transaction (a slow finish).
      await tx.execute(sqlText`SELECT pg_sleep(1.2)`);
      await extendFencedClaim(tx, claim);
    });
    assert.equal(await renewClaim(db, claim), true, 'held after the transaction: the next one can fence it');

    await lapse(uid);
    const second = await acquireClaim(db, uid, { leaseSeconds: 60, holder: 'second:1' });
    await extendFencedClaim(db, claim);
    const [row] = await sql<{ token: string }[]>`
      SELECT token::text AS token FROM luma_guest_sync.event_claim WHERE event_uid = ${uid} AND expires_at > clock_timestamp()`;
    assert.equal(row?.token, second.token, 'the old token extended nothing');
  });
});

describe('releasing a claim', () => {
  it('releases only its own token: a sync taken over leaves its successor’s claim held', async () => {
    const uid = eventUid();
    const first = await acquireClaim(db, uid, { leaseSeconds: 60, holder: 'first:1' });
    await lapse(uid);
    const second = await acquireClaim(db, uid, { leaseSeconds: 60, holder: 'second:1' });
    assert.equal(await releaseClaim(db, first, { clearCheckpoint: false }), false, 'nothing of its own to release');
    const third = await acquireClaim(db, uid, { leaseSeconds: 60, holder: 'third:1' }).then(
      () => assert.fail('a third sync was granted the claim beside the second'),
      (err: unknown) => err,
    );
    assert.ok(third instanceof EventSyncRunningError);
    assert.equal(third.holder, 'second:1');
    assert.equal(await releaseClaim(db, second, { clearCheckpoint: true }), true);
  });
});

describe('the checkpoint a claim is granted with', () => {
  /** Records a checkpoint as a page write does, through the claim's fencing UPDATE. */
  const record = (claim: Claim, nextCursor: string | null, pagesDone: number) =>
    db.execute(fenceUpdate(claim, { nextCursor, pagesDone, externalEventId: 'luma-evt-1' }));

  it('is none for a new claim, the recorded cursor after a page, and none once the list ended', async () => {
    const uid = eventUid();
    const first = await acquireClaim(db, uid, { leaseSeconds: 60, holder: 'a:1' });
    assert.equal(first.checkpoint, null, 'nothing recorded yet');

    await record(first, 'cursor-page-2', 1);
    await record(first, 'cursor-page-3', 2);
    await releaseClaim(db, first, { clearCheckpoint: false });
    const resumed = await acquireClaim(db, uid, { leaseSeconds: 60, holder: 'b:1' });
    assert.deepEqual(resumed.checkpoint, { nextCursor: 'cursor-page-3', pagesDone: 2, externalEventId: 'luma-evt-1' });

    // The last page records no next cursor: there is nothing to resume, whatever else the row says.
    await record(resumed, null, 3);
    await releaseClaim(db, resumed, { clearCheckpoint: false });
    const after = await acquireClaim(db, uid, { leaseSeconds: 60, holder: 'c:1' });
    assert.equal(after.checkpoint, null);
    await releaseClaim(db, after, { clearCheckpoint: true });
  });
});

describe('the holder of a claim', () => {
  it('is this host and process unless the settings name one, and a refused sync names it', async () => {
    const uid = eventUid();
    const claim = await acquireClaim(db, uid, { leaseSeconds: 60 });
    assert.equal(claim.holder, `${hostname()}:${process.pid}`);
    const refused = await acquireClaim(db, uid, { leaseSeconds: 60, holder: 'other:2' }).then(
      () => assert.fail('a second claim was granted'),
      (err: unknown) => err,
    );
    assert.ok(refused instanceof EventSyncRunningError);
    assert.equal(refused.holder, `${hostname()}:${process.pid}`);
    await releaseClaim(db, claim, { clearCheckpoint: true });
  });

  it('refuses retryably, naming no holder, when the claim row vanished between the grant and the look-up', async () => {
    // The grant found a live claim (no row back); by the look-up an operator had deleted it.
    const vanished = { execute: async () => [] } as unknown as Db;
    const refused = await acquireClaim(vanished, 'evt-vanished', { leaseSeconds: 60, holder: 'x:1' }).then(
      () => assert.fail('a claim was granted'),
      (err: unknown) => err,
    );
    assert.ok(refused instanceof EventSyncRunningError, `EventSyncRunningError, not ${String(refused)}`);
    assert.equal(refused.holder, undefined);
    assert.equal(refused.expiresAt, undefined);
  });
});
