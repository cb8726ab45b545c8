/**
 * The finish (finish-sync.ts: two transactions after the last page) runs once the claim's
 * renewals have stopped: its fencing UPDATE keeps the claim's row locked until it commits.
 * A database that goes silent then (no FIN, no RST; test/support/freezable-link.ts) must not
 * hold the sync for TCP's minutes; a database that is only slow (the finish waits on a
 * lock, as a large stale removal or a busy server would make it) must not fail it. Directly
 * and through PgBouncer, the link frozen between the pool and PgBouncer. Lease 3 s, but for
 * the sync after the thaw, which must complete.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { blockedBy, type Hold, holdInTransaction, lastSyncedAt, until, within } from '../support/faults.ts';
import { endsSilent, frozenRoutes, poolThroughFreezableLink } from '../support/freezable-link.ts';
import { guestsOf, seedEvent, seedMember, syncMessageFor } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const database = await createTestDatabase({ label: 'frozen_finish' });
const { db, sql } = database;
const luma = useSimulatedLuma();

/** The lease the finish outlives or is frozen past: what these tests are about. */
const LEASE_SECONDS = 3;
/**
 * A sync that must complete and whose lease is not under test: a 3 s one, renewed every second,
 * runs out in a 2 s stall of a loaded machine (docs/load-flakes.md).
 */
const COMPLETING_LEASE_SECONDS = 60;
/** Generous for a busy machine, and still far below TCP's minutes: a wait for TCP fails it. */
const BOUND_MS = 30_000;

async function claimFree(eventUid: string): Promise<boolean | undefined> {
  const [row] = await sql<{ free: boolean }[]>`
    SELECT expires_at <= clock_timestamp() AS free FROM luma_guest_sync.event_claim WHERE event_uid = ${eventUid}`;
  return row?.free;
}

/** An event of two one-guest pages, served by the simulated Luma. */
async function twoPageEvent() {
  const event = await seedEvent(db);
  const message = syncMessageFor(event);
  const members = await Promise.all([1, 2].map(() => seedMember(db)));
  luma.serve({
    events: { [message.externalEventId]: members.map((m, i) => ({ id: `gst-${i + 1}`, email: m.email! })) },
  });
  return { event, message };
}

for (const route of frozenRoutes(database)) {
  describe(`the finish, ${route.name}`, () => {
    it('frozen once every page is written: the sync ends naming the finish within about a lease, and the finish delivered late writes nothing', async () => {
      // Two connections, the fewest with room for a probe beside the finish's.
      const { link, handle } = await poolThroughFreezableLink(route.url, 2, route.pooler);
      const { event, message } = await twoPageEvent();
      let frozenAt = 0;
      const deps = syncDeps(handle.db, {
        pageSize: 1,
        claim: { leaseSeconds: LEASE_SECONDS, holder: 'frozen:1' },
        hooks: {
          beforeFinish: async () => {
            link.freeze();
            frozenAt = performance.now();
          },
        },
      });

      await endsSilent(`in the finish, ${route.name}`, syncEvent(deps, message), {
        stage: /the finish/,
        frozenAt: () => frozenAt,
        boundMs: BOUND_MS,
      });
      assert.equal(await lastSyncedAt(sql, event.uid), null);
      // Past the lease the last page's fence gave it, the finish held in the link is fenced off.
      await until('the claim to expire in the database', async () => (await claimFree(event.uid)) === true, BOUND_MS);
      link.thaw();
      const [row] = await within('the pool to answer again', handle.sql<{ one: number }[]>`SELECT 1 AS one`, BOUND_MS);
      assert.equal(row?.one, 1);
      assert.equal(await lastSyncedAt(sql, event.uid), null, 'the late finish wrote guestLastSyncedAt');

      // The next sync completes through the thawed link (the list is read again: its last
      // page's checkpoint has no cursor).
      const again = await within(
        'a sync through the thawed link',
        syncEvent(syncDeps(handle.db, { pageSize: 1, claim: { leaseSeconds: COMPLETING_LEASE_SECONDS } }), message),
        BOUND_MS,
      );
      assert.equal(again.matched, 2);
      assert.ok(await lastSyncedAt(sql, event.uid));
      assert.equal(await claimFree(event.uid), true);
    });

    for (const poolMax of [3, 1]) {
      it(`slower than the lease while the database answers (pool of ${poolMax}): the finish completes`, async () => {
        const { handle } = await poolThroughFreezableLink(route.url, poolMax, route.pooler);
        const { event, message } = await twoPageEvent();
        let lock: Hold | undefined;
        const deps = syncDeps(handle.db, {
          pageSize: 1,
          claim: { leaseSeconds: LEASE_SECONDS },
          hooks: {
            // The event's row, which the finish's first transaction updates, is locked by
            // another session: the finish waits on it, past a whole lease.
            beforeFinish: async () => {
              lock = await holdInTransaction(
                sql,
                (tx) => tx`SELECT 1 FROM "PLEvent" WHERE uid = ${event.uid} FOR NO KEY UPDATE`,
              );
            },
          },
        });
        const started = performance.now();
        const sync = syncEvent(deps, message);
        await until('the finish to wait on the lock', async () => !!lock && (await blockedBy(sql, lock.pid)) === 1);
        await new Promise((resolve) => setTimeout(resolve, LEASE_SECONDS * 1_000 * 1.5));
        await lock?.release();
        const result = await within('the slow finish to complete', sync, BOUND_MS);
        console.log(`# ${route.name}, pool of ${poolMax}: completed in ${Math.round(performance.now() - started)} ms`);

        assert.equal(result.created, 2);
        assert.ok(await lastSyncedAt(sql, event.uid));
        assert.equal(await claimFree(event.uid), true);
        assert.equal((await guestsOf(db, event.uid)).length, 2);
      });
    }
  });
}
