import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { HttpResponse } from 'msw';
import * as schema from '../../src/db/schema.ts';
import { isPermanent } from '../../src/errors.ts';
import type { SimGuest } from '../../src/local/luma-simulator.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { createGate } from '../support/faults.ts';
import { guestsOf, seedEvent, seedGuest, seedMember, syncMessageFor } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const { db, sql } = await createTestDatabase({ label: 'remove_stale' });
const luma = useSimulatedLuma();
const removeStale = { enabled: true, maxShare: 0.5 };

/** An event whose Luma list holds `count` members; returns them and the message. */
async function syncedEvent(count: number) {
  const event = await seedEvent(db);
  const members = await Promise.all(Array.from({ length: count }, () => seedMember(db)));
  const message = syncMessageFor(event);
  const list: SimGuest[] = members.map((m, i) => ({ id: `gst-${event.uid}-${i}`, email: m.email! }));
  luma.serve({ events: { [message.externalEventId]: list } });
  await syncEvent(syncDeps(db), message);
  return { event, members, message, list };
}

const memberUids = async (eventUid: string) => (await guestsOf(db, eventUid)).map((r) => r.memberUid).sort();

/** The event's guest rows are exactly those of `members`. */
async function assertGuestsAre(eventUid: string, members: { uid: string }[]) {
  assert.deepEqual(await memberUids(eventUid), members.map((m) => m.uid).sort());
}

describe('removing guests who left the approved list', () => {
  it('removes a synced guest who cancelled', async () => {
    const { event, members, message, list } = await syncedEvent(4);
    luma.serve({ events: { [message.externalEventId]: list.slice(1) } });

    const result = await syncEvent(syncDeps(db, { removeStale }), message);

    assert.equal(result.removed, 1);
    await assertGuestsAre(event.uid, members.slice(1));
  });

  it('keeps everything when the feature is off', async () => {
    const { event, message, list } = await syncedEvent(4);
    luma.serve({ events: { [message.externalEventId]: list.slice(1) } });

    const result = await syncEvent(syncDeps(db), message);

    assert.equal(result.removed, 0);
    assert.equal((await guestsOf(db, event.uid)).length, 4);
  });

  for (const { when, guests, listed, guard } of [
    {
      when: 'more than the allowed share would go',
      guests: 4,
      listed: (list: SimGuest[]) => list.slice(3),
      guard: 'share_exceeded',
    },
    { when: 'Luma returns an empty list', guests: 3, listed: () => [], guard: 'empty_list' },
  ]) {
    it(`removes nothing and reports the guard when ${when}`, async () => {
      const { event, message, list } = await syncedEvent(guests);
      luma.serve({ events: { [message.externalEventId]: listed(list) } });
      const guards: string[] = [];

      const result = await syncEvent(
        syncDeps(db, { removeStale, observer: { staleGuard: (g) => guards.push(g) } }),
        message,
      );

      assert.equal(result.removed, 0);
      assert.deepEqual(guards, [guard]);
      assert.equal((await guestsOf(db, event.uid)).length, guests);
    });
  }

  it('reports nothing to remove in a dry run when a guard would trip', async () => {
    const { message, list } = await syncedEvent(4);
    luma.serve({ events: { [message.externalEventId]: list.slice(3) } });

    const result = await syncEvent(syncDeps(db, { removeStale }), message, { dryRun: true });

    assert.equal(result.removed, 0);
    assert.equal(result.staleToRemove, undefined);
  });

  it('keeps a member still approved under another Luma guest id', async () => {
    const { event, members, message, list } = await syncedEvent(3);
    const [first] = members;
    luma.serve({
      events: { [message.externalEventId]: [{ id: 'gst-new-registration', email: first!.email! }, ...list.slice(1)] },
    });

    const result = await syncEvent(syncDeps(db, { removeStale }), message);

    assert.equal(result.removed, 0);
    await assertGuestsAre(event.uid, members);
  });

  it('never removes a row the directory created, even for a member who left Luma', async () => {
    const { event, members, message, list } = await syncedEvent(3);
    const walkIn = await seedMember(db);
    const directoryRow = await seedGuest(db, {
      eventUid: event.uid,
      locationUid: event.locationUid!,
      memberUid: walkIn.uid,
    });
    luma.serve({ events: { [message.externalEventId]: list.slice(1) } });

    const result = await syncEvent(syncDeps(db, { removeStale }), message);

    assert.equal(result.removed, 1);
    const rows = await guestsOf(db, event.uid);
    assert.ok(rows.some((r) => r.uid === directoryRow.uid));
    assert.ok(!rows.some((r) => r.memberUid === members[0]!.uid));
  });

  it('lists what it would remove in a dry run and removes nothing', async () => {
    const { event, members, message, list } = await syncedEvent(4);
    luma.serve({ events: { [message.externalEventId]: list.slice(1) } });

    const result = await syncEvent(syncDeps(db, { removeStale }), message, { dryRun: true });

    assert.equal(result.removed, 1);
    assert.deepEqual(result.staleToRemove, [{ memberUid: members[0]!.uid, externalGuestId: list[0]!.id }]);
    assert.equal((await guestsOf(db, event.uid)).length, 4);
  });

  it('completes on redelivery after a removal failed halfway', async () => {
    const { event, members, message, list } = await syncedEvent(4);
    luma.serve({ events: { [message.externalEventId]: list.slice(2) } });
    // A trigger fails the removal after its first row, as a crash mid-statement would.
    await sql.unsafe(`
      CREATE SEQUENCE stale_test_deletions;
      CREATE FUNCTION stale_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('stale_test_deletions') > 1 THEN RAISE EXCEPTION 'injected failure'; END IF;
        RETURN OLD;
      END $$;
      CREATE TRIGGER stale_test_fail BEFORE DELETE ON "PLEventGuest" FOR EACH ROW EXECUTE FUNCTION stale_test_fail();`);
    try {
      await assert.rejects(syncEvent(syncDeps(db, { removeStale }), message), (err: Error) =>
        String((err.cause as Error)?.message).includes('injected failure'),
      );
      assert.equal((await guestsOf(db, event.uid)).length, 4, 'the failed statement removed nothing');
    } finally {
      await sql.unsafe(
        'DROP TRIGGER stale_test_fail ON "PLEventGuest"; DROP FUNCTION stale_test_fail; DROP SEQUENCE stale_test_deletions',
      );
    }

    const result = await syncEvent(syncDeps(db, { removeStale }), message);

    assert.equal(result.removed, 2);
    await assertGuestsAre(event.uid, members.slice(2));
  });

  it('keeps a member whose directory email changed while their Luma guest id is still approved', async () => {
    const { event, members, message } = await syncedEvent(4);
    await db.update(schema.member).set({ email: 'renamed@example.org' }).where(eq(schema.member.uid, members[0]!.uid));

    const result = await syncEvent(syncDeps(db, { removeStale }), message);

    assert.equal(result.removed, 0);
    assert.equal(result.matched, 3);
    await assertGuestsAre(event.uid, members);
  });

  it('keeps the row of an entry with a Luma guest id but no usable email, and still removes a guest who left', async () => {
    const { event, members, message, list } = await syncedEvent(4);
    // Luma changed its response shape for one entry: its email is unreadable, so it is
    // skipped; its guest id still says whose row it is. The fourth guest left.
    const partial = [{ ...list[0]!, email: 'not an email' }, ...list.slice(1, 3)];
    luma.serve({ events: { [message.externalEventId]: partial } });
    const guards: string[] = [];
    const deps = syncDeps(db, { removeStale, observer: { staleGuard: (g) => guards.push(g) } });

    const dry = await syncEvent(deps, message, { dryRun: true });
    const result = await syncEvent(deps, message);

    assert.deepEqual(
      [dry.skipped, dry.removed, dry.staleGuard, dry.staleToRemove?.map((r) => r.memberUid)],
      [1, 1, undefined, [members[3]!.uid]],
    );
    assert.deepEqual([result.skipped, result.removed, result.staleGuard], [1, 1, undefined]);
    assert.deepEqual(guards, []);
    await assertGuestsAre(event.uid, members.slice(0, 3));
  });

  it('removes nothing when an approved entry came without a usable guest id, and says so', async () => {
    const { event, members, message, list } = await syncedEvent(4);
    // That entry could be any of the rows: the fourth guest's absence proves nothing.
    const partial = [{ ...list[0]!, id: ' ' }, ...list.slice(1, 3)];
    luma.serve({ events: { [message.externalEventId]: partial } });
    const guards: string[] = [];
    const deps = syncDeps(db, { removeStale, observer: { staleGuard: (g) => guards.push(g) } });

    const dry = await syncEvent(deps, message, { dryRun: true });
    const result = await syncEvent(deps, message);

    assert.deepEqual(
      [dry.skipped, dry.removed, dry.staleGuard, dry.staleToRemove],
      [1, 0, 'skipped_entries', undefined],
    );
    assert.deepEqual([result.skipped, result.removed, result.staleGuard], [1, 0, 'skipped_entries']);
    assert.deepEqual(guards, ['skipped_entries', 'skipped_entries']);
    await assertGuestsAre(event.uid, members);
  });

  it('never lets an older list remove a guest that a concurrent newer sync added', async () => {
    const { event, message, list } = await syncedEvent(4);
    const late = await seedMember(db);
    const newer = [...list, { id: `gst-${event.uid}-late`, email: late.email! }];
    // The first sync reads the list as it was (without the late guest), but its answer is
    // held back until the second sync, which reads the newer list, has finished.
    const older = createGate();
    const olderRequested = createGate();
    let first = true;
    luma.serve({
      events: { [message.externalEventId]: newer },
      fault: async () => {
        if (!first) return undefined;
        first = false;
        olderRequested.open();
        await older.opened;
        return HttpResponse.json({
          entries: list.map((g) => ({ api_id: g.id, guest: { api_id: g.id, email: g.email } })),
          has_more: false,
        });
      },
    });

    const olderSync = syncEvent(syncDeps(db, { removeStale }), message);
    await olderRequested.opened;
    const newerOutcome = await syncEvent(syncDeps(db, { removeStale }), message).then(
      (result) => ({ result, err: undefined }),
      (err: unknown) => ({ result: undefined, err }),
    );
    older.open();
    await olderSync;

    const present = (await memberUids(event.uid)).includes(late.uid);
    assert.ok(
      present || newerOutcome.err !== undefined,
      'the older list removed the guest the newer sync had just added',
    );
    if (newerOutcome.err) {
      // Refused, not lost: a retryable error leaves the message for redelivery.
      assert.equal(isPermanent(newerOutcome.err), false);
      assert.match(String((newerOutcome.err as Error).message), /already being synced/);
      const redelivered = await syncEvent(syncDeps(db, { removeStale }), message);
      assert.equal(redelivered.created, 1);
    }
    assert.ok((await memberUids(event.uid)).includes(late.uid));
  });
});
