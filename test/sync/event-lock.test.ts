/**
 * Issue 10, items 2 and 5: two syncs of one event never overlap; syncs of different
 * events never wait for each other; a crashed holder's lock goes with its connection.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDatabase } from '../../src/db/client.ts';
import { errorKind, isPermanent } from '../../src/errors.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import type { SyncMessage } from '../../src/sync/types.ts';
import { createTestDatabase } from '../support/db.ts';
import { createGate, until } from '../support/faults.ts';
import { guestsOf, seedEvent, seedMember } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const database = await createTestDatabase({ label: 'event_lock' });
const { db, sql } = database;
const luma = useSimulatedLuma();

async function linkedEvent(guests: number) {
  const event = await seedEvent(db);
  const members = await Promise.all(Array.from({ length: guests }, () => seedMember(db)));
  const message: SyncMessage = {
    eventUid: event.uid,
    externalEventId: event.externalEventId!,
    locationUid: event.locationUid!,
    providerType: 'LUMA',
  };
  const list = members.map((m, i) => ({ id: `gst-${event.uid}-${i}`, email: m.email! }));
  return { event, message, list };
}

/** Serves the lists; the first request for `heldEventId` waits until the returned gate opens. */
function serveHolding(lists: Record<string, Array<{ id: string; email: string }>>, heldEventId: string) {
  const hold = createGate();
  const held = createGate();
  let first = true;
  luma.serve({
    events: lists,
    fault: async (request) => {
      if (!first || new URL(request.url).searchParams.get('event_id') !== heldEventId) return undefined;
      first = false;
      held.open();
      await hold.opened;
      return undefined;
    },
  });
  return { held: held.opened, release: hold.open };
}

describe('one sync per event at a time', () => {
  it('refuses a second sync of an event while the first runs, without reading Luma, and retryably', async () => {
    const { event, message, list } = await linkedEvent(3);
    const luma_ = serveHolding({ [message.externalEventId]: list }, message.externalEventId);
    const first = syncEvent(syncDeps(db), message);
    await luma_.held;

    const second = await syncEvent(syncDeps(db), message).then(
      () => undefined,
      (err: unknown) => err,
    );
    luma_.release();
    const result = await first;

    assert.ok(second instanceof Error, 'the second sync was refused');
    assert.equal(isPermanent(second), false, 'left for redelivery, never dropped');
    assert.equal(errorKind(second), 'event_sync_running');
    assert.match(second.message, new RegExp(`${event.uid} is already being synced`));
    assert.equal(result.created, 3);
    assert.equal((await guestsOf(db, event.uid)).length, 3);
  });

  it('lets syncs of different events run at the same time', async () => {
    const a = await linkedEvent(2);
    const b = await linkedEvent(2);
    const luma_ = serveHolding(
      { [a.message.externalEventId]: a.list, [b.message.externalEventId]: b.list },
      a.message.externalEventId,
    );
    const syncA = syncEvent(syncDeps(db), a.message);
    await luma_.held;

    // B completes while A is still in the middle of its sync.
    const resultB = await syncEvent(syncDeps(db), b.message);
    luma_.release();
    const resultA = await syncA;

    assert.deepEqual([resultA.created, resultB.created], [2, 2]);
  });

  it('frees the event when the process holding it dies', async () => {
    const { event, message, list } = await linkedEvent(2);
    const luma_ = serveHolding({ [message.externalEventId]: list }, message.externalEventId);
    const crashing = createDatabase({ url: database.url, poolMax: 2 });
    const doomed = syncEvent(syncDeps(crashing.db), message).then(
      () => undefined,
      (err: unknown) => err,
    );
    await luma_.held;

    // The crash: the connection holding the lock is cut, as a dying process's would be.
    const holders = await sql<{ pid: number }[]>`SELECT pid FROM pg_locks
      WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
    assert.equal(holders.length, 1);
    const pid = holders[0]!.pid;
    await sql`SELECT pg_terminate_backend(${pid}::int)`;
    await until(
      'the cut connection to end',
      async () => (await sql`SELECT 1 FROM pg_stat_activity WHERE pid = ${pid}::int`).length === 0,
    );
    const result = await syncEvent(syncDeps(db), message);
    luma_.release();
    await doomed;
    await crashing.close();

    assert.equal(result.created, 2);
    assert.equal((await guestsOf(db, event.uid)).length, 2);
  });
});
