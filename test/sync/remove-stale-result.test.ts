/**
 * What Stryker found unpinned in remove-stale.ts (docs/mutation.md): the figures
 * removeStaleGuests reports (synced rows counted without the directory's own rows), and
 * that it lists rows only for a dry run that would remove them: never after a real run,
 * never when a guard holds removal back. Called directly, against PostgreSQL.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { removeStaleGuests, type StaleInput } from '../../src/sync/remove-stale.ts';
import { createTestDatabase } from '../support/db.ts';
import { guestsOf, seedEvent, seedGuest, seedMember } from '../support/seed.ts';

const { db } = await createTestDatabase({ label: 'remove_stale_result' });

/** An event with `synced` synced rows (guest ids g0…) and one row the directory created. */
async function eventWithRows(synced: number) {
  const event = await seedEvent(db);
  const members = await Promise.all(Array.from({ length: synced + 1 }, () => seedMember(db)));
  for (let i = 0; i < synced; i++) {
    await seedGuest(db, {
      eventUid: event.uid,
      locationUid: event.locationUid!,
      memberUid: members[i]!.uid,
      externalGuestId: `g${i}`,
    });
  }
  await seedGuest(db, { eventUid: event.uid, locationUid: event.locationUid!, memberUid: members[synced]!.uid });
  return { event, members };
}

/** The list as this process holds it (`given`), keeping the guest ids in `keep`. */
const input = (eventUid: string, keep: string[], overrides: Partial<StaleInput> = {}): StaleInput => ({
  eventUid,
  list: { kind: 'given', fetched: keep.length, unidentified: 0, guestIds: keep, memberUids: [] },
  maxShare: 0.5,
  dryRun: false,
  ...overrides,
});

describe('removeStaleGuests reports', () => {
  it('synced rows without the directory’s, the stale ones, those removed, and lists none after a real run', async () => {
    const { event } = await eventWithRows(4);
    const result = await removeStaleGuests({ db }, input(event.uid, ['g0', 'g1', 'g2']));
    assert.deepEqual(result, { synced: 4, stale: 1, removed: 1, guard: null });
    assert.equal((await guestsOf(db, event.uid)).length, 4, 'the directory row stays');
  });

  it('in a dry run, the rows a real run would remove, removing none', async () => {
    const { event, members } = await eventWithRows(4);
    const result = await removeStaleGuests({ db }, input(event.uid, ['g0', 'g1', 'g2'], { dryRun: true }));
    assert.deepEqual(result, {
      synced: 4,
      stale: 1,
      removed: 0,
      guard: null,
      staleRows: [{ memberUid: members[3]!.uid, externalGuestId: 'g3' }],
    });
    assert.equal((await guestsOf(db, event.uid)).length, 5);
  });

  it('no rows to remove when a guard holds removal back, in a dry run or a real one', async () => {
    for (const dryRun of [true, false]) {
      const { event } = await eventWithRows(4);
      const result = await removeStaleGuests({ db }, input(event.uid, ['g0'], { dryRun }));
      assert.deepEqual(result, { synced: 4, stale: 3, removed: 0, guard: 'share_exceeded' }, `dryRun: ${dryRun}`);
      assert.equal((await guestsOf(db, event.uid)).length, 5);
    }
  });

  it('in a dry run with nothing stale, no list at all (the dry-run report then shows no staleToRemove)', async () => {
    const { event } = await eventWithRows(2);
    const result = await removeStaleGuests({ db }, input(event.uid, ['g0', 'g1'], { dryRun: true }));
    assert.deepEqual(result, { synced: 2, stale: 0, removed: 0, guard: null });
  });
});
