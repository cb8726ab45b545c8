/**
 * One page statement that writes several consecutive pages (src/sync/page-writer.ts puts
 * together the pages read while the statement before runs): its fence wants the page
 * before its first, its checkpoint is its last page's, and stale removal's record of the
 * read gets one row per page, each with its own guests, skipped ids and members.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addPageGuests, type ListedPage } from '../../src/sync/add-page-guests.ts';
import { acquireClaim, releaseClaim } from '../../src/sync/claim.ts';
import { createTestDatabase } from '../support/db.ts';
import { guestsOf, seedEvent, seedMember } from '../support/seed.ts';

const { db, sql } = await createTestDatabase({ label: 'pages_together' });

function guest(id: string, email: string) {
  return { externalGuestId: id, email, name: null, approvalStatus: 'approved', registeredAt: null };
}

async function listedRows(eventUid: string) {
  return sql<{ page: number; guest_ids: string[]; member_uids: string[]; fetched: number; unidentified: number }[]>`
    SELECT page, guest_ids, member_uids, fetched, unidentified FROM luma_guest_sync.listed_page
    WHERE event_uid = ${eventUid} ORDER BY page`;
}

async function pagesDone(eventUid: string) {
  const [row] = await sql<{ pages_done: number; next_cursor: string | null }[]>`
    SELECT pages_done, next_cursor FROM luma_guest_sync.event_claim WHERE event_uid = ${eventUid}`;
  return row;
}

describe('a page statement of several pages', () => {
  it('writes pages 2 to 4 over page 1, records page 4 as done, and lists each page as its own', async () => {
    const event = await seedEvent(db);
    const target = { eventUid: event.uid, locationUid: event.locationUid! };
    const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map(() => seedMember(db)));
    const claim = await acquireClaim(db, event.uid, { leaseSeconds: 60 });
    const fence = (firstPage: number, last: number, listing: ListedPage[]) => ({
      claim,
      checkpoint: { nextCursor: `c${last + 1}`, pagesDone: last, externalEventId: 'evt' },
      firstPage,
      listing,
    });

    const page1 = await addPageGuests({ db }, target, [guest('g1', a!.email!)], {
      fence: fence(1, 1, [{ page: 1, fetched: 1, skippedGuestIds: [], unidentified: 0 }]),
    });
    assert.equal(page1.held, true);

    // Page 2: two guests (one twice over, as b), one skipped id; page 3 empty but for a
    // skipped entry without an id; page 4: c and d, and b again.
    const together = await addPageGuests(
      { db },
      target,
      [
        guest('g2', b!.email!),
        guest('g2b', b!.email!.toUpperCase()),
        guest('g4', c!.email!),
        guest('g5', d!.email!),
        guest('g6', b!.email!),
      ],
      {
        fence: fence(2, 4, [
          { page: 2, fetched: 2, skippedGuestIds: ['skip-2'], unidentified: 0 },
          { page: 3, fetched: 0, skippedGuestIds: [], unidentified: 1 },
          { page: 4, fetched: 3, skippedGuestIds: ['skip-4a', 'skip-4b'], unidentified: 2 },
        ]),
      },
    );

    assert.equal(together.held, true);
    assert.equal(together.matchedGuests, 5);
    assert.deepEqual(
      new Set(together.createdMemberUids),
      new Set([b!.uid, c!.uid, d!.uid]),
      'b once, though on two pages',
    );
    assert.deepEqual(
      (await guestsOf(db, event.uid)).map((r) => r.externalGuestId).sort(),
      ['g1', 'g2', 'g4', 'g5'],
      "b's row takes the first guest's id",
    );
    assert.deepEqual(await pagesDone(event.uid), { pages_done: 4, next_cursor: 'c5' });
    assert.deepEqual(
      (await listedRows(event.uid)).map((r) => ({ ...r, member_uids: [...r.member_uids].sort() })),
      [
        { page: 1, guest_ids: ['g1'], member_uids: [a!.uid], fetched: 1, unidentified: 0 },
        { page: 2, guest_ids: ['g2', 'g2b', 'skip-2'], member_uids: [b!.uid], fetched: 2, unidentified: 0 },
        { page: 3, guest_ids: [], member_uids: [], fetched: 0, unidentified: 1 },
        {
          page: 4,
          guest_ids: ['g4', 'g5', 'g6', 'skip-4a', 'skip-4b'],
          member_uids: [b!.uid, c!.uid, d!.uid].sort(),
          fetched: 3,
          unidentified: 2,
        },
      ],
    );
    await releaseClaim(db, claim, { clearCheckpoint: true });
  });

  it('writes nothing unless the claim has the page before its first: pages 3 to 4 over page 1 are refused', async () => {
    const event = await seedEvent(db);
    const target = { eventUid: event.uid, locationUid: event.locationUid! };
    const member = await seedMember(db);
    const claim = await acquireClaim(db, event.uid, { leaseSeconds: 60 });
    const checkpoint = (pages: number) => ({ nextCursor: `c${pages + 1}`, pagesDone: pages, externalEventId: 'evt' });
    await addPageGuests({ db }, target, [], { fence: { claim, checkpoint: checkpoint(1) } });

    const skipped = await addPageGuests({ db }, target, [guest('g3', member.email!)], {
      fence: { claim, checkpoint: checkpoint(4), firstPage: 3 },
    });
    assert.equal(skipped.held, false);
    assert.deepEqual(await guestsOf(db, event.uid), []);
    assert.equal((await pagesDone(event.uid))?.pages_done, 1);

    // Its last page alone would be refused too, and pages 2 to 4 are written.
    const written = await addPageGuests({ db }, target, [guest('g3', member.email!)], {
      fence: { claim, checkpoint: checkpoint(4), firstPage: 2 },
    });
    assert.equal(written.held, true);
    assert.equal((await pagesDone(event.uid))?.pages_done, 4);
    await releaseClaim(db, claim, { clearCheckpoint: true });
  });

  it("starts a read of the list when its first page is 1: earlier reads' listed pages are forgotten", async () => {
    const event = await seedEvent(db);
    const target = { eventUid: event.uid, locationUid: event.locationUid! };
    const claim = await acquireClaim(db, event.uid, { leaseSeconds: 60 });
    const listed = (page: number): ListedPage => ({ page, fetched: 0, skippedGuestIds: [], unidentified: 0 });
    const checkpoint = (pages: number) => ({ nextCursor: null, pagesDone: pages, externalEventId: 'evt' });
    await addPageGuests({ db }, target, [], { fence: { claim, checkpoint: checkpoint(1), listing: [listed(1)] } });
    await addPageGuests({ db }, target, [], { fence: { claim, checkpoint: checkpoint(2), listing: [listed(2)] } });
    await addPageGuests({ db }, target, [], { fence: { claim, checkpoint: checkpoint(3), listing: [listed(3)] } });

    await addPageGuests({ db }, target, [], {
      fence: { claim, checkpoint: checkpoint(2), firstPage: 1, listing: [listed(1), listed(2)] },
    });
    assert.deepEqual(
      (await listedRows(event.uid)).map((r) => r.page),
      [1, 2],
      'page 3 of the earlier read is gone',
    );
    await releaseClaim(db, claim, { clearCheckpoint: true });
  });

  it('refuses a listing that does not describe its guests, before asking the database anything', async () => {
    const event = await seedEvent(db);
    const target = { eventUid: event.uid, locationUid: event.locationUid! };
    const claim = await acquireClaim(db, event.uid, { leaseSeconds: 60 });
    const checkpoint = { nextCursor: null, pagesDone: 3, externalEventId: 'evt' };
    const listed = (page: number, fetched: number): ListedPage => ({
      page,
      fetched,
      skippedGuestIds: [],
      unidentified: 0,
    });
    const guests = [guest('g1', 'a@x.org'), guest('g2', 'b@x.org')];

    await assert.rejects(
      addPageGuests({ db }, target, guests, {
        fence: { claim, checkpoint, firstPage: 2, listing: [listed(2, 1), listed(3, 2)] },
      }),
      /listing of pages 2,3 \(3 guests\) does not match the statement's 2 guests, pages 2 to 3/,
    );
    await assert.rejects(
      addPageGuests({ db }, target, guests, {
        fence: { claim, checkpoint, firstPage: 2, listing: [listed(1, 1), listed(2, 1)] },
      }),
      /listing of pages 1,2 \(2 guests\) does not match the statement's 2 guests, pages 2 to 3/,
    );
    await assert.rejects(
      addPageGuests({ db }, target, guests, {
        fence: { claim, checkpoint, firstPage: 2, listing: [listed(2, 1), listed(4, 1)] },
      }),
      /listing of pages 2,4/,
    );
    // Each check alone: pages not consecutive, though they end at the checkpoint's page …
    await assert.rejects(
      addPageGuests({ db }, target, guests, {
        fence: {
          claim,
          checkpoint: { ...checkpoint, pagesDone: 4 },
          firstPage: 2,
          listing: [listed(2, 1), listed(4, 1)],
        },
      }),
      /listing of pages 2,4 \(2 guests\) does not match the statement's 2 guests, pages 2 to 4/,
    );
    // … consecutive, but ending short of the checkpoint's page …
    await assert.rejects(
      addPageGuests({ db }, target, guests, {
        fence: {
          claim,
          checkpoint: { ...checkpoint, pagesDone: 4 },
          firstPage: 2,
          listing: [listed(2, 1), listed(3, 1)],
        },
      }),
      /listing of pages 2,3 \(2 guests\) does not match the statement's 2 guests, pages 2 to 4/,
    );
    // … and no page at all.
    await assert.rejects(
      addPageGuests({ db }, target, [], { fence: { claim, checkpoint, firstPage: 3, listing: [] } }),
      /listing of pages {2}\(0 guests\) does not match the statement's 0 guests, pages 3 to 3/,
    );
    assert.equal((await pagesDone(event.uid))?.pages_done, 0, 'nothing written');
    await releaseClaim(db, claim, { clearCheckpoint: true });
  });

  it('refuses a dry run with a fence: it would write the claim, and forget the listed pages at page 1', async () => {
    const event = await seedEvent(db);
    const target = { eventUid: event.uid, locationUid: event.locationUid! };
    const claim = await acquireClaim(db, event.uid, { leaseSeconds: 60 });
    const fence = { claim, checkpoint: { nextCursor: null, pagesDone: 1, externalEventId: 'evt' } };
    const listing = [{ page: 1, fetched: 0, skippedGuestIds: [], unidentified: 0 }];
    await addPageGuests({ db }, target, [], { fence: { ...fence, listing } });

    await assert.rejects(addPageGuests({ db }, target, [], { dryRun: true, fence }), /a dry run takes no fence/);
    assert.deepEqual(
      (await listedRows(event.uid)).map((r) => r.page),
      [1],
    );
    await releaseClaim(db, claim, { clearCheckpoint: true });
  });
});
