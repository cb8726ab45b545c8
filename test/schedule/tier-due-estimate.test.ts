/**
 * What the hand SQL mutants found unpinned in tier-due.ts (docs/mutation.md): for an event
 * without a recorded success, the tick estimates its pages from its own synced rows (not
 * the directory's rows, not other events') and the guests read per match of recent
 * successful syncs only (a failed sync read part of a list).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recordSyncAttempt } from '../../src/history/record-attempt.ts';
import { findTierCandidates } from '../../src/schedule/tier-due.ts';
import { createTestDatabase } from '../support/db.ts';
import { DAY, seedEvent, seedGuest, seedMember } from '../support/seed.ts';

const { sql, db } = await createTestDatabase({ label: 'tier_due_estimate' });
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const soon = () => ({ startDate: new Date(NOW.getTime() + 2 * DAY), endDate: new Date(NOW.getTime() + 3 * DAY) });

async function attempt(eventUid: string, outcome: 'success' | 'failure', fetched: number, matched: number) {
  const startedAt = new Date(NOW.getTime() - 3_600_000);
  await recordSyncAttempt(
    { sql, retentionDays: 30 },
    {
      eventUid,
      trigger: 'tier',
      startedAt,
      finishedAt: new Date(startedAt.getTime() + 1000),
      outcome,
      result: { pages: 1, fetched, matched, created: 0, removed: 0, skipped: 0 },
      ...(outcome === 'failure' ? { errorKind: 'luma_unavailable' } : {}),
    },
  );
}

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
    await attempt(other.uid, 'success', 100, 10);
    await attempt(other.uid, 'failure', 30, 30);

    const found = (await findTierCandidates(sql, NOW, 14 * DAY)).find((c) => c.eventUid === fresh.uid);

    assert.equal(found?.lastPages, undefined, 'no success recorded');
    assert.equal(found?.syncedGuests, 2, 'its synced rows, not the directory’s, not another event’s');
    assert.equal(found?.guestsPerMatch, 10);
  });
});
