/**
 * What the hand SQL mutants found unpinned in tier-due.ts (docs/mutation.md): for an event
 * without a recorded success, the tick estimates its pages from its own synced rows (not
 * the directory's rows, not other events') and the guests read per match of recent
 * successful syncs only (a failed sync read part of a list).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findTierCandidates } from '../../src/schedule/tier-due.ts';
import { createTestDatabase } from '../support/db.ts';
import { DAY, seedEvent, seedGuest, seedMember } from '../support/seed.ts';
import { tierSyncHistory } from '../support/tier-sync-history.ts';

const { sql, db } = await createTestDatabase({ label: 'tier_due_estimate' });
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const soon = () => ({ startDate: new Date(NOW.getTime() + 2 * DAY), endDate: new Date(NOW.getTime() + 3 * DAY) });

const history = tierSyncHistory(sql);
const anHourAgo = new Date(NOW.getTime() - 3_600_000);

async function rows(event: { uid: string; locationUid: string | null }, synced: number, directory: number) {
  for (let i = 0; i < synced + directory; i++) {
    const member = await seedMember(db);
    await seedGuest(db, {
      eventUid: event.uid,
      locationUid: event.locationUid!,
      memberUid: member.uid,
      ...(i < synced ? { externalGuestId: `gst-${event.uid}-${i}` } : {}),
    });
  }
}

describe('the estimate inputs of an event without a recorded success', () => {
  it('are its own synced rows and the guests per match of successful syncs only', async () => {
    const fresh = await seedEvent(db, soon());
    await rows(fresh, 2, 3);
    const other = await seedEvent(db, soon());
    await rows(other, 4, 0);
    // Successes read 100 guests for 10 matches: 10 per match. The failure (30 read, 30
    // matched) would bring it down to 130 / 40 if it counted.
    await history.success(other.uid, anHourAgo, { pages: 1, fetched: 100, matched: 10 });
    await history.failure(other.uid, anHourAgo, { pages: 1, fetched: 30, matched: 30 });

    const found = (await findTierCandidates(sql, NOW, 14 * DAY)).find((c) => c.eventUid === fresh.uid);

    assert.equal(found?.lastPages, undefined, 'no success recorded');
    assert.equal(found?.syncedGuests, 2, 'its synced rows, not the directory’s, not another event’s');
    assert.equal(found?.guestsPerMatch, 10);
  });
});
