/**
 * What addPageGuests answers for the pages that match nothing: a dry run's empty page (no
 * fence, so no checkpoint to write) costs no statement, and a page whose guests are no
 * members answers empty lists. sync-event.ts reads every list of the answer (the member
 * set a dry run's stale removal keeps, the ambiguous guests it warns about) and throws
 * ClaimLostError when `held` is false, so each field is the sync's behaviour.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Db } from '../../src/db/client.ts';
import { addPageGuests } from '../../src/sync/add-page-guests.ts';
import { createTestDatabase } from '../support/db.ts';
import { guestsOf, seedEvent, seedMember } from '../support/seed.ts';

const { db } = await createTestDatabase({ label: 'add_page_guests' });

const nothing = { matchedGuests: 0, matchedMemberUids: [], createdMemberUids: [], ambiguousGuestIds: [], held: true };

describe('addPageGuests on a page that matches nothing', () => {
  it('answers an empty page without a fence (a dry run) with nothing matched and still held, asking the database nothing', async () => {
    const statements: string[] = [];
    const recorder = {
      $client: {
        options: { prepare: true },
        unsafe: (text: string) => {
          statements.push(text);
          return Promise.resolve([]);
        },
      },
    } as unknown as Db;
    const target = { eventUid: 'event-empty', locationUid: 'location-empty' };
    assert.deepEqual(await addPageGuests({ db: recorder }, target, [], { dryRun: true }), nothing);
    assert.deepEqual(await addPageGuests({ db: recorder }, target, []), nothing);
    assert.deepEqual(statements, [], 'an empty page has nothing to match and, unfenced, no checkpoint to write');
  });

  it('answers a page whose guests are no members with empty lists, in a dry run and in a write', async () => {
    const event = await seedEvent(db);
    const member = await seedMember(db);
    const target = { eventUid: event.uid, locationUid: event.locationUid! };
    const strangers = [
      {
        externalGuestId: 'gst-1',
        email: 'nobody@example.com',
        name: null,
        approvalStatus: 'approved',
        registeredAt: null,
      },
      {
        externalGuestId: 'gst-2',
        email: 'no-one@example.com',
        name: null,
        approvalStatus: 'approved',
        registeredAt: null,
      },
    ];
    assert.deepEqual(await addPageGuests({ db }, target, strangers, { dryRun: true }), nothing);
    assert.deepEqual(await addPageGuests({ db }, target, strangers), nothing);
    assert.deepEqual(await guestsOf(db, event.uid), [], 'nobody added');
    // The same page with one guest who is a member answers that member, so the empty
    // lists above are the strangers', not the statement's.
    const outcome = await addPageGuests({ db }, target, [
      ...strangers,
      { ...strangers[0]!, externalGuestId: 'gst-3', email: member.email! },
    ]);
    assert.deepEqual(outcome, {
      ...nothing,
      matchedGuests: 1,
      matchedMemberUids: [member.uid],
      createdMemberUids: [member.uid],
    });
  });
});
