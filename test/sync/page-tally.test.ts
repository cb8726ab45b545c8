/**
 * PageTally (src/sync/page-tally.ts) on its own: what a sync holds in the process about
 * the list it read. A real sync records the list in the database (listed_page) and keeps
 * none of its ids in memory, however long the list (issue 22: a 100k-guest list held in
 * the process cost megabytes); only a dry run, which writes nothing, keeps them for its
 * stale-removal report.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/log.ts';
import type { GuestBatch } from '../../src/providers/types.ts';
import type { PageOutcome } from '../../src/sync/add-page-guests.ts';
import type { Claim } from '../../src/sync/claim.ts';
import type { ClaimHold } from '../../src/sync/claim-hold.ts';
import { PageTally } from '../../src/sync/page-tally.ts';

const claim: Claim = { eventUid: 'evt-1', token: '1', leaseSeconds: 60, holder: 'this-sync', checkpoint: null };

function tally(options: { dryRun: boolean; removal: boolean }): PageTally {
  const hold = { confirmed: () => {} } as unknown as ClaimHold;
  return new PageTally({ claim, hold, log: silentLogger, ...options });
}

const page: GuestBatch = {
  page: 1,
  guests: [
    { externalGuestId: 'gst-1', email: 'one@example.com', name: null, approvalStatus: 'approved', registeredAt: null },
    { externalGuestId: 'gst-2', email: 'two@example.com', name: null, approvalStatus: 'approved', registeredAt: null },
  ],
  skipped: 1,
  nextCursor: null,
  skippedGuestIds: ['gst-unusable-email'],
};

const outcome: PageOutcome = {
  matchedGuests: 1,
  matchedMemberUids: ['member-1'],
  createdMemberUids: ['member-1'],
  ambiguousGuestIds: [],
  held: true,
};

describe('PageTally: the list held in the process', () => {
  it('a real sync with stale removal keeps none of the list’s ids: the database holds them', () => {
    const real = tally({ dryRun: false, removal: true });
    real.take([page], outcome, 0, 0);
    assert.equal(real.kept, undefined);
    assert.equal(real.counted, undefined);
    assert.deepEqual({ lastPage: real.lastPage, created: real.created }, { lastPage: 1, created: 1 });
  });

  it('a dry run with stale removal keeps every guest id, skipped ones included, and the members matched', () => {
    const dry = tally({ dryRun: true, removal: true });
    dry.take([page], outcome, 0, 0);
    assert.deepEqual(
      { guestIds: [...(dry.kept?.guestIds ?? [])], memberUids: [...(dry.kept?.memberUids ?? [])] },
      { guestIds: ['gst-1', 'gst-2', 'gst-unusable-email'], memberUids: ['member-1'] },
    );
  });

  it('a dry run without stale removal keeps no list', () => {
    const dry = tally({ dryRun: true, removal: false });
    dry.take([page], outcome, 0, 0);
    assert.equal(dry.kept, undefined);
  });
});
