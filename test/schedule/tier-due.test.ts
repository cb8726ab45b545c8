/**
 * What the freshness tick reads about each event (its last success, its last tier slot)
 * and how it records a slot. Each test uses events of its own.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findTierCandidates, recordTierEnqueued } from '../../src/schedule/tier-due.ts';
import { createTestDatabase } from '../support/db.ts';
import { DAY, seedEvent } from '../support/seed.ts';
import { tierSyncHistory } from '../support/tier-sync-history.ts';

const HOUR = 3_600_000;
const { sql, db } = await createTestDatabase({ label: 'tier_due' });
// Whole milliseconds in UTC, as the statement formats them.
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const HORIZON = 14 * DAY;

const history = tierSyncHistory(sql);

async function candidate(eventUid: string) {
  const all = await findTierCandidates(sql, NOW, HORIZON);
  return all.find((c) => c.eventUid === eventUid);
}

const soon = () => ({ startDate: new Date(NOW.getTime() + 2 * DAY), endDate: new Date(NOW.getTime() + 3 * DAY) });

describe('findTierCandidates', () => {
  it('takes the latest successful sync as the last success, with its page count; later failures do not count', async () => {
    const event = await seedEvent(db, soon());
    await history.success(event.uid, ago(5 * HOUR), { pages: 2, fetched: 1, matched: 1 });
    await history.success(event.uid, ago(3 * HOUR), { pages: 7, fetched: 1, matched: 1 });
    await history.failure(event.uid, ago(1 * HOUR));

    const found = await candidate(event.uid);

    assert.deepEqual(found?.lastSuccessAt, ago(3 * HOUR));
    assert.equal(found?.lastPages, 7);
  });

  it('falls back to guestLastSyncedAt for an event synced before the history existed, and prefers the history', async () => {
    const old = await seedEvent(db, { ...soon(), guestLastSyncedAt: ago(6 * HOUR) });
    const recorded = await seedEvent(db, { ...soon(), guestLastSyncedAt: null });
    await history.success(recorded.uid, ago(2 * HOUR), { pages: 1, fetched: 1, matched: 1 });
    const both = await seedEvent(db, { ...soon(), guestLastSyncedAt: ago(9 * HOUR) });
    await history.success(both.uid, ago(4 * HOUR), { pages: 1, fetched: 1, matched: 1 });

    assert.deepEqual((await candidate(old.uid))?.lastSuccessAt, ago(6 * HOUR));
    assert.deepEqual((await candidate(recorded.uid))?.lastSuccessAt, ago(2 * HOUR));
    assert.deepEqual((await candidate(both.uid))?.lastSuccessAt, ago(4 * HOUR));
  });

  it('lists an event never synced nor enqueued, within the horizon only', async () => {
    const fresh = await seedEvent(db, { ...soon(), guestLastSyncedAt: null });
    const far = await seedEvent(db, {
      startDate: new Date(NOW.getTime() + HORIZON + DAY),
      endDate: new Date(NOW.getTime() + HORIZON + 2 * DAY),
    });

    const found = await candidate(fresh.uid);
    assert.ok(found, 'an event with no history and no slot is a candidate');
    assert.equal(found.lastSuccessAt, undefined);
    assert.equal(found.lastTierSlot, undefined);
    assert.equal(await candidate(far.uid), undefined, 'an event starting beyond the horizon is not');
  });
});

describe('the syncable-event rule in the tick’s statement', () => {
  it('lists an event until it ends and never one that cannot be synced, at each boundary', async () => {
    const running = { startDate: ago(3 * HOUR) };
    const endsSoon = await seedEvent(db, { ...running, endDate: new Date(NOW.getTime() + 1) });
    const later = soon();
    const excluded = [
      await seedEvent(db, { ...running, endDate: NOW }), // ends exactly now: over
      await seedEvent(db, { ...running, endDate: ago(1) }),
      await seedEvent(db, { ...later, externalEventProvider: null }),
      await seedEvent(db, { ...later, externalEventId: '' }),
      await seedEvent(db, { ...later, externalEventId: '   ' }),
      await seedEvent(db, { ...later, externalEventId: null }),
      await seedEvent(db, { ...later, locationUid: null }),
      await seedEvent(db, { ...later, isDeleted: true }),
    ];

    const listed = new Set((await findTierCandidates(sql, NOW, HORIZON)).map((c) => c.eventUid));

    assert.ok(listed.has(endsSoon.uid), 'an event that has not ended yet');
    assert.deepEqual(
      excluded.filter((e) => listed.has(e.uid)).map((e) => e.uid),
      [],
    );
  });
});

describe('recordTierEnqueued', () => {
  it('never moves an event’s slot back: a late replica recording an older slot leaves the newer one', async () => {
    const event = await seedEvent(db, soon());
    const newer = ago(5 * 60_000);
    const older = ago(10 * 60_000);

    await recordTierEnqueued(sql, [event.uid], newer);
    await recordTierEnqueued(sql, [event.uid], older);

    assert.deepEqual((await candidate(event.uid))?.lastTierSlot, newer);
  });

  it('forgets slots older than 30 days and keeps younger ones', async () => {
    const [stale, recent, current] = await Promise.all([1, 2, 3].map(() => seedEvent(db, soon())));
    await recordTierEnqueued(sql, [stale!.uid], ago(31 * DAY));
    await recordTierEnqueued(sql, [recent!.uid], ago(HOUR));

    await recordTierEnqueued(sql, [current!.uid], NOW);

    assert.equal((await candidate(stale!.uid))?.lastTierSlot, undefined);
    assert.deepEqual((await candidate(recent!.uid))?.lastTierSlot, ago(HOUR));
    assert.deepEqual((await candidate(current!.uid))?.lastTierSlot, NOW);
  });
});
