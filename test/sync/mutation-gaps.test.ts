/**
 * Behaviours a mutation run found unpinned (issue 25): each test fails under the mutant
 * named beside it, and would fail under any other change that broke the behaviour.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import * as schema from '../../src/db/schema.ts';
import { isPermanent } from '../../src/errors.ts';
import type { SimGuest } from '../../src/local/luma-simulator.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { guestsOf, seedEvent, seedGuest, seedLocation, seedMember, seedTeam, syncMessageFor } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const { db } = await createTestDatabase({ label: 'mutation_gaps' });
const luma = useSimulatedLuma();

async function eventWithList(count: number) {
  const event = await seedEvent(db);
  const members = await Promise.all(Array.from({ length: count }, () => seedMember(db)));
  const message = syncMessageFor(event);
  const list: SimGuest[] = members.map((m, i) => ({ id: `gst-${event.uid}-${i}`, email: m.email! }));
  luma.serve({ events: { [message.externalEventId]: list } });
  return { event, members, message, list };
}

const lastSyncedAt = async (eventUid: string) =>
  (await db.select().from(schema.plEvent).where(eq(schema.plEvent.uid, eventUid)))[0]?.guestLastSyncedAt ?? null;

describe('what the mutation run found unpinned', () => {
  // sync-event.ts `keep && deps.removeStale` → `||`
  it('syncs with stale removal switched off as production wires it ({enabled: false}), keeping stale rows', async () => {
    const { event, members, message, list } = await eventWithList(3);
    await syncEvent(syncDeps(db), message);
    luma.serve({ events: { [message.externalEventId]: list.slice(1) } });

    const result = await syncEvent(syncDeps(db, { removeStale: { enabled: false, maxShare: 1 } }), message);

    assert.equal(result.removed, 0);
    assert.equal(result.staleGuard, undefined);
    const kept = (await guestsOf(db, event.uid)).map((r) => r.memberUid).sort();
    assert.deepEqual(kept, members.map((m) => m.uid).sort());
  });

  // add-page-guests.ts: "already listed" keyed by event and location instead of by event alone
  it('adds no synced twin after a move for a member the directory listed at the old location', async () => {
    const { event, members, message } = await eventWithList(2);
    const from = event.locationUid!;
    const [listedByDirectory, onlyOnLuma] = members as [(typeof members)[0], (typeof members)[0]];
    const directoryRow = await seedGuest(db, {
      eventUid: event.uid,
      locationUid: from,
      memberUid: listedByDirectory.uid,
    });
    const to = (await seedLocation(db)).uid;
    await db.update(schema.plEvent).set({ locationUid: to }).where(eq(schema.plEvent.uid, event.uid));

    const result = await syncEvent(syncDeps(db), { ...message, locationUid: to });

    assert.equal(result.created, 1, 'only the member not yet listed is added');
    const rows = await guestsOf(db, event.uid);
    assert.deepEqual(
      rows.filter((r) => r.memberUid === listedByDirectory.uid),
      [directoryRow],
      'the directory’s row stays the member’s only row',
    );
    assert.deepEqual(
      rows.filter((r) => r.memberUid === onlyOnLuma.uid).map((r) => r.locationUid),
      [to],
    );
  });

  // remove-stale.ts: `"externalGuestId" IS NOT NULL` dropped from the synced rows
  it('counts only synced rows in the share guard’s base: directory rows neither dilute it nor get removed', async () => {
    const { event, message, list } = await eventWithList(2);
    await syncEvent(syncDeps(db), message);
    // Three rows the directory created, for members not on Luma.
    const walkIns = await Promise.all([1, 2, 3].map(() => seedMember(db)));
    for (const m of walkIns)
      await seedGuest(db, { eventUid: event.uid, locationUid: event.locationUid!, memberUid: m.uid });
    // One of the two synced guests cancelled: half the synced rows, above a share of 0.4.
    luma.serve({ events: { [message.externalEventId]: list.slice(1) } });

    const result = await syncEvent(syncDeps(db, { removeStale: { enabled: true, maxShare: 0.4 } }), message);

    assert.equal(result.staleGuard, 'share_exceeded');
    assert.equal(result.removed, 0);
    assert.equal((await guestsOf(db, event.uid)).length, 5);
  });

  it('never removes a directory row whose member is not on the list, when synced rows are removed', async () => {
    const { event, message, list } = await eventWithList(4);
    await syncEvent(syncDeps(db), message);
    const walkIn = await seedMember(db);
    const directoryRow = await seedGuest(db, {
      eventUid: event.uid,
      locationUid: event.locationUid!,
      memberUid: walkIn.uid,
    });
    luma.serve({ events: { [message.externalEventId]: list.slice(1) } });

    const result = await syncEvent(syncDeps(db, { removeStale: { enabled: true, maxShare: 0.5 } }), message);

    assert.equal(result.removed, 1);
    assert.ok((await guestsOf(db, event.uid)).some((r) => r.uid === directoryRow.uid));
  });

  // add-page-guests.ts: the team lookup without `"mainTeam"`
  it('gives a guest the member’s main team even when another team role was recorded first', async () => {
    const [other, main] = [await seedTeam(db), await seedTeam(db)];
    const { event, members, message } = await eventWithList(0);
    const member = await seedMember(db, { otherTeamUids: [other.uid] });
    await db.insert(schema.teamMemberRole).values({ memberUid: member.uid, teamUid: main.uid, mainTeam: true });
    luma.serve({ events: { [message.externalEventId]: [{ id: 'gst-team', email: member.email! }] } });

    await syncEvent(syncDeps(db), message);

    assert.deepEqual(members, []);
    assert.deepEqual(
      (await guestsOf(db, event.uid)).map((r) => r.teamUid),
      [main.uid],
    );
  });

  // add-page-guests.ts: matched guests counted per member (`count(ord)`) instead of per guest
  it('counts a guest whose address two members share (by normalisation) as one matched guest', async () => {
    const { event, message } = await eventWithList(0);
    const local = `shared-${event.uid}`;
    const upper = await seedMember(db, { email: `${local.toUpperCase()}@X.ORG` });
    const lower = await seedMember(db, { email: `${local}@x.org` });
    luma.serve({ events: { [message.externalEventId]: [{ id: 'gst-shared', email: `${local}@x.org` }] } });

    const result = await syncEvent(syncDeps(db), message);

    assert.equal(result.matched, 1, 'one guest');
    // One Luma guest is one directory guest: the member whose stored email is Luma's exactly.
    assert.equal(result.created, 1, 'one of the two members is listed');
    assert.deepEqual(
      (await guestsOf(db, event.uid)).map((r) => r.memberUid),
      [lower.uid],
    );
    assert.notEqual(upper.uid, lower.uid);
  });

  // sync-event.ts: the caller's signal combined with the lock's (never aborted in a test)
  it('stops when the caller aborts, leaving the event’s last sync time as it was', async () => {
    const { event, message } = await eventWithList(2);
    const controller = new AbortController();
    const reason = new Error('worker shutting down');
    controller.abort(reason);

    await assert.rejects(syncEvent(syncDeps(db), message, { signal: controller.signal }), (err) => err === reason);

    assert.equal(await lastSyncedAt(event.uid), null);
  });

  it('stops a sync already under way when the caller aborts mid-list', async () => {
    const { event, message, list } = await eventWithList(3);
    const controller = new AbortController();
    const reason = new Error('shutdown mid-sync');
    // Abort while Luma answers the first page; the later pages are never needed.
    luma.serve({
      events: { [message.externalEventId]: list },
      onRequest: () => controller.abort(reason),
    });

    await assert.rejects(
      syncEvent(syncDeps(db, { pageSize: 1 }), message, { signal: controller.signal }),
      (err) => err === reason,
    );
    assert.equal(await lastSyncedAt(event.uid), null);
  });

  // sync-event.ts: an event without a location (never thrown in a test)
  it('fails an event without a location as permanent, adding nobody', async () => {
    const { event, message } = await eventWithList(1);
    await db.update(schema.plEvent).set({ locationUid: null }).where(eq(schema.plEvent.uid, event.uid));

    await assert.rejects(
      syncEvent(syncDeps(db), message),
      (err) => isPermanent(err) && err.kind === 'event_without_location',
    );
    assert.deepEqual(await guestsOf(db, event.uid), []);
  });
});
