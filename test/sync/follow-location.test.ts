/**
 * Synced rows follow their event to its new location (follow-location.ts): exactly the
 * event's synced rows that are elsewhere move, stamped with the sync's time, and the
 * caller learns each location they left once, so it can refresh those gatherings.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { followEventLocation } from '../../src/sync/follow-location.ts';
import { createTestDatabase } from '../support/db.ts';
import { guestsOf, seedEvent, seedGuest, seedLocation, seedMember } from '../support/seed.ts';

const { db } = await createTestDatabase({ label: 'follow_location' });
const at = new Date(Date.UTC(2026, 11, 5, 9, 30, 0, 250));
const longAgo = new Date(Date.UTC(2026, 0, 1));

async function guest(eventUid: string, locationUid: string, externalGuestId: string | null) {
  const member = await seedMember(db);
  return seedGuest(db, { eventUid, locationUid, memberUid: member.uid, externalGuestId, updatedAt: longAgo });
}

describe('following a moved event', () => {
  it('moves the event’s synced rows from every old location, stamped with the sync’s time, naming each location left once', async () => {
    const [a, b, to] = await Promise.all([seedLocation(db), seedLocation(db), seedLocation(db)]);
    const event = await seedEvent(db, { locationUid: to.uid });
    await guest(event.uid, a.uid, 'gst-1');
    await guest(event.uid, a.uid, 'gst-2');
    await guest(event.uid, b.uid, 'gst-3');
    const already = await guest(event.uid, to.uid, 'gst-4');

    const result = await followEventLocation({ db, now: () => at }, { eventUid: event.uid, locationUid: to.uid });

    assert.equal(result.moved, 3);
    assert.deepEqual([...result.leftLocationUids].sort(), [a.uid, b.uid].sort());
    const rows = await guestsOf(db, event.uid);
    assert.deepEqual(new Set(rows.map((r) => r.locationUid)), new Set([to.uid]));
    for (const row of rows.filter((r) => r.uid !== already.uid)) assert.deepEqual(row.updatedAt, at);
    assert.deepEqual(rows.find((r) => r.uid === already.uid)?.updatedAt, longAgo, 'a row already there is untouched');
  });

  it('leaves the directory’s own rows and other events’ rows where they are', async () => {
    const [from, to] = await Promise.all([seedLocation(db), seedLocation(db)]);
    const event = await seedEvent(db, { locationUid: to.uid });
    const other = await seedEvent(db, { locationUid: from.uid });
    const directoryRow = await guest(event.uid, from.uid, null);
    const othersRow = await guest(other.uid, from.uid, 'gst-other');

    const result = await followEventLocation({ db, now: () => at }, { eventUid: event.uid, locationUid: to.uid });

    assert.deepEqual(result, { moved: 0, leftLocationUids: [] });
    assert.deepEqual(await guestsOf(db, event.uid), [directoryRow]);
    assert.deepEqual(await guestsOf(db, other.uid), [othersRow]);
  });

  it('stamps the rows with the current time when no clock is given', async () => {
    const [from, to] = await Promise.all([seedLocation(db), seedLocation(db)]);
    const event = await seedEvent(db, { locationUid: to.uid });
    await guest(event.uid, from.uid, 'gst-1');
    const before = Date.now();

    const result = await followEventLocation({ db }, { eventUid: event.uid, locationUid: to.uid });

    assert.deepEqual(result, { moved: 1, leftLocationUids: [from.uid] });
    const [row] = await guestsOf(db, event.uid);
    assert.ok(row!.updatedAt.getTime() >= before - 1000, 'stamped now, not left as it was');
  });
});
