/**
 * findLinkedEvents: the directory events one Luma event id triggers, by the daily pass's
 * syncable rule, at most MAX_LINKED_EVENTS, each with the page count of its last
 * successful sync as its cost.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { findLinkedEvents, MAX_LINKED_EVENTS } from '../../src/webhooks/linked-events.ts';
import { createTestDatabase } from '../support/db.ts';
import { DAY, seedEvent } from '../support/seed.ts';
import { tierSyncHistory } from '../support/tier-sync-history.ts';

const { sql, db } = await createTestDatabase({ label: 'linked_events' });
const NOW = new Date();
const lumaId = () => `evt-${randomBytes(5).toString('hex')}`;

const history = tierSyncHistory(sql);
const hoursAgo = (hours: number) => new Date(NOW.getTime() - hours * 3_600_000);

describe('findLinkedEvents', () => {
  it('returns each syncable Luma event with this id, as a sync needs it, in id order', async () => {
    const id = lumaId();
    const first = await seedEvent(db, { externalEventId: id });
    const second = await seedEvent(db, { externalEventId: id });
    await seedEvent(db); // another Luma event

    const found = await findLinkedEvents({ db }, id, NOW);

    assert.deepEqual(found, [
      { eventUid: first.uid, externalEventId: id, locationUid: first.locationUid, providerType: 'LUMA' },
      { eventUid: second.uid, externalEventId: id, locationUid: second.locationUid, providerType: 'LUMA' },
    ]);
  });

  it('leaves out events the daily pass would not sync: ended, deleted, without a location', async () => {
    const id = lumaId();
    const past = new Date(NOW.getTime() - DAY);
    await seedEvent(db, { externalEventId: id, startDate: new Date(NOW.getTime() - 2 * DAY), endDate: past });
    await seedEvent(db, { externalEventId: id, isDeleted: true });
    await seedEvent(db, { externalEventId: id, locationUid: null });
    assert.deepEqual(await findLinkedEvents({ db }, id, NOW), []);
    // "Now" is the caller's: the ended event was syncable two days ago.
    const found = await findLinkedEvents({ db }, id, new Date(NOW.getTime() - 2 * DAY));
    assert.equal(found.length, 1);
  });

  it('returns at most MAX_LINKED_EVENTS events, the oldest first', async () => {
    const id = lumaId();
    const seeded = [];
    for (let i = 0; i < MAX_LINKED_EVENTS + 2; i++) seeded.push(await seedEvent(db, { externalEventId: id }));
    const found = await findLinkedEvents({ db }, id, NOW);
    assert.equal(MAX_LINKED_EVENTS, 10);
    assert.deepEqual(
      found.map((e) => e.eventUid),
      seeded.slice(0, MAX_LINKED_EVENTS).map((e) => e.uid),
    );
  });

  it('costs each event by the pages of its latest successful sync, and leaves the cost out without one', async () => {
    const id = lumaId();
    const synced = await seedEvent(db, { externalEventId: id });
    const failedOnly = await seedEvent(db, { externalEventId: id });
    const never = await seedEvent(db, { externalEventId: id });
    await history.success(synced.uid, hoursAgo(5), { pages: 3 });
    await history.success(synced.uid, hoursAgo(2), { pages: 7 }); // the latest success
    await history.failure(synced.uid, hoursAgo(1), { pages: 40 }); // a later failure read part of the list
    await history.failure(failedOnly.uid, hoursAgo(1), { pages: 9 });

    const found = await findLinkedEvents({ db }, id, NOW);
    const byUid = new Map(found.map((e) => [e.eventUid, e]));

    assert.equal(byUid.get(synced.uid)?.lastPages, 7);
    assert.equal(typeof byUid.get(synced.uid)?.lastPages, 'number');
    assert.ok(!('lastPages' in byUid.get(failedOnly.uid)!), 'no success: no cost');
    assert.ok(!('lastPages' in byUid.get(never.uid)!));
  });
});
