import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GuestChange } from './audit.ts';
import { checkDeletions } from './check-deletions.ts';

/** The soak's judge of deletions, on a small history: only its verdicts, no processes. */
const change = (at: number, guestId: string, approved: boolean) => ({
  at,
  eventId: 'evt-1',
  guestId,
  email: `${guestId}@example.com`,
  approved,
});
const deletion = (at: number, memberUid: string, externalGuestId: string | null): GuestChange => ({
  at,
  op: 'DELETE',
  eventUid: 'ev-1',
  memberUid,
  externalGuestId,
  locationUid: 'loc',
});
const judge = (deletions: GuestChange[], deletedMembers: string[] = []) =>
  checkDeletions({
    deletions,
    changes: [change(0, 'g1', true), change(0, 'g2', true), change(100, 'g2', false)],
    lumaIdOf: new Map([
      ['ev-1', 'evt-1'],
      ['ev-big', 'evt-big'],
    ]),
    generated: new Set(['evt-big']),
    deletedMembers: new Set(deletedMembers),
  });

test('a deletion after the guest was declined is right', () => {
  assert.equal(judge([deletion(150, 'm2', 'g2')]).ok, true);
});

test("a deletion while the guest was still approved is wrong, judged at the deletion's time", () => {
  const verdict = judge([deletion(50, 'm2', 'g2')]);
  assert.equal(verdict.ok, false);
  assert.match(verdict.detail, /1 of approved guests; e\.g\. ev-1\/m2 \(g2, approved\)/);
  assert.equal(judge([deletion(500, 'm1', 'g1')]).ok, false);
});

test('a generated list is approved throughout; a directory row may never go; a deleted member takes its rows', () => {
  assert.equal(judge([{ ...deletion(5, 'm9', 'gst-evt-big-3'), eventUid: 'ev-big' }]).ok, false);
  assert.equal(judge([deletion(5, 'm3', null)]).ok, false);
  assert.equal(judge([deletion(50, 'm1', 'g1'), deletion(50, 'm3', null)], ['m1', 'm3']).ok, true);
});
