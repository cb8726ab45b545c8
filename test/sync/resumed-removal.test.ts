/**
 * Issue 22 (and issue 19's open end): stale removal keeps the list in the database
 * (luma_guest_sync.listed_page, one row per page, written by the page's fenced statement),
 * so a sync resumed from its checkpoint removes exactly what a whole read would: every
 * guest the list no longer holds, never one it still holds on a page an earlier attempt
 * read. What could go wrong, each forced here: pages of an earlier read mixed in, pages
 * written without the list taken as complete, a lapsed holder writing or forgetting the
 * list, a dry run disturbing it, reads nobody finishes piling up.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpResponse } from 'msw';
import type { SimGuest } from '../../src/local/luma-simulator.ts';
import { addPageGuests } from '../../src/sync/add-page-guests.ts';
import type { Claim } from '../../src/sync/claim.ts';
import { LISTED_PAGE_DAYS } from '../../src/sync/remove-stale.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { guestsOf, seedEventWithLeaver, seedGuest, seedMember } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const { db, sql } = await createTestDatabase({ label: 'resumed_removal' });
const luma = useSimulatedLuma();
// No share guard in the way: each test asserts exactly which rows go.
const removeStale = { enabled: true, maxShare: 1 };

/** Serves `list` and stops the first sync while page `k` is written (page k+1 requested). */
function serveStoppingAfter(
  list: () => SimGuest[],
  externalEventId: string,
  k: number,
  fault?: () => Response | undefined,
) {
  const stop = new AbortController();
  luma.serve({
    events: { [externalEventId]: list() },
    onRequest: (_request, pageNo) => {
      if (pageNo === k + 1 && !stop.signal.aborted) stop.abort(new Error('consumer stopped'));
    },
    fault: () => fault?.(),
  });
  return stop.signal;
}

async function listedPages(eventUid: string): Promise<number[]> {
  const rows = await sql<{ page: number }[]>`
    SELECT page FROM luma_guest_sync.listed_page WHERE event_uid = ${eventUid} ORDER BY page`;
  return rows.map((r) => r.page);
}

const syncedIds = async (eventUid: string) => (await guestsOf(db, eventUid)).map((r) => r.externalGuestId).sort();

describe('stale removal after a resumed sync', () => {
  it('removes exactly the guests the list no longer holds, keeping those of the pages read before the resume', async () => {
    const { event, members, message, list } = await seedEventWithLeaver(db, 6);
    // Member 0 also has a row under an older Luma guest id: kept, since the member is listed
    // on page 1, which only the first attempt read.
    await seedGuest(db, {
      eventUid: event.uid,
      locationUid: event.locationUid!,
      memberUid: members[0]!.uid,
      externalGuestId: 'gst-earlier-registration',
    });
    const deps = syncDeps(db, { pageSize: 1, removeStale });
    const stopped = serveStoppingAfter(() => list, message.externalEventId, 3);
    await assert.rejects(syncEvent(deps, message, { signal: stopped }), /consumer stopped/);
    assert.deepEqual(await listedPages(event.uid), [1, 2, 3], 'the first attempt recorded its pages');

    const result = await syncEvent(deps, message);

    assert.equal(result.resumedAtPage, 4);
    assert.equal(result.staleGuard, undefined);
    assert.equal(result.removed, 1);
    assert.deepEqual(
      await syncedIds(event.uid),
      // Member 0 keeps its one row, under the earlier id (a member is added once per event).
      [...list.slice(1).map((g) => g.id), 'gst-earlier-registration'].sort(),
      'only gst-gone went; the guests of pages 1-3 and the member listed there stay',
    );
    assert.deepEqual(await listedPages(event.uid), [], 'the finish forgets the list');
  });

  it('never takes pages written without the list for a complete list: removal waits for a whole read', async () => {
    const { event, message, list } = await seedEventWithLeaver(db, 4);
    // Removal was off for the first attempt (PL_EVENT_GUEST_SYNC_REMOVE_STALE turned on between).
    const stopped = serveStoppingAfter(() => list, message.externalEventId, 2);
    await assert.rejects(syncEvent(syncDeps(db, { pageSize: 1 }), message, { signal: stopped }));
    assert.deepEqual(await listedPages(event.uid), []);
    const guards: string[] = [];
    const deps = syncDeps(db, { pageSize: 1, removeStale, observer: { staleGuard: (g) => guards.push(g) } });

    const resumed = await syncEvent(deps, message);

    assert.equal(resumed.resumedAtPage, 3);
    assert.equal(resumed.staleGuard, 'resumed');
    assert.deepEqual(guards, ['resumed']);
    assert.equal(resumed.removed, 0);
    assert.ok((await syncedIds(event.uid)).includes('gst-gone'));
    const whole = await syncEvent(deps, message);
    assert.equal(whole.removed, 1, 'the next sync reads the list whole and removes');
  });

  it('forgets an earlier read at page 1: a list read again from the start removes the guest who left meanwhile', async () => {
    const { event, message, list } = await seedEventWithLeaver(db, 4);
    const deps = syncDeps(db, { pageSize: 1, removeStale });
    const stopped = serveStoppingAfter(() => list, message.externalEventId, 2);
    await assert.rejects(syncEvent(deps, message, { signal: stopped }));
    assert.deepEqual(await listedPages(event.uid), [1, 2]);
    // Guest 0 (page 1 of the first read) cancels; Luma then refuses the checkpoint cursor,
    // so the next attempt reads the list again from page 1.
    let refused = 0;
    luma.serve({
      events: { [message.externalEventId]: list.slice(1) },
      fault: (request) => {
        if (refused > 0 || !new URL(request.url).searchParams.has('pagination_cursor')) return undefined;
        refused++;
        return HttpResponse.json({ message: 'cursor expired' }, { status: 410 });
      },
    });

    const result = await syncEvent(deps, message);

    assert.equal(refused, 1);
    assert.equal(result.resumedAtPage, undefined, 'read again from page 1');
    assert.equal(result.staleGuard, undefined);
    assert.equal(result.removed, 2, 'gst-gone and guest 0, whom the earlier read had listed');
    assert.deepEqual(
      await syncedIds(event.uid),
      list
        .slice(1)
        .map((g) => g.id)
        .sort(),
    );
  });

  it('a page statement of a holder whose claim lapsed records no page and forgets none', async () => {
    const { event, message, list } = await seedEventWithLeaver(db, 3);
    const deps = syncDeps(db, { pageSize: 1, removeStale });
    const stopped = serveStoppingAfter(() => list, message.externalEventId, 2);
    await assert.rejects(syncEvent(deps, message, { signal: stopped }));
    const [row] = await sql<{ token: string; holder: string }[]>`
      SELECT token::text AS token, holder FROM luma_guest_sync.event_claim WHERE event_uid = ${event.uid}`;
    // The first attempt's own token: its claim was released when it stopped.
    const lapsed: Claim = {
      eventUid: event.uid,
      token: row!.token,
      leaseSeconds: 60,
      holder: row!.holder,
      checkpoint: null,
    };
    const target = { eventUid: event.uid, locationUid: event.locationUid! };
    const late = await seedMember(db);

    for (const pagesDone of [1, 3]) {
      const outcome = await addPageGuests({ db }, target, [externalGuest(`gst-late-${pagesDone}`, late.email!)], {
        fence: {
          claim: lapsed,
          checkpoint: { nextCursor: null, pagesDone, externalEventId: message.externalEventId },
          listing: [{ page: pagesDone, fetched: 1, skippedGuestIds: [], unidentified: 0 }],
        },
      });
      assert.equal(outcome.held, false);
    }

    assert.deepEqual(await listedPages(event.uid), [1, 2], 'page 1 forgot nothing, page 3 recorded nothing');
    assert.ok(!(await syncedIds(event.uid)).some((id) => id?.startsWith('gst-late')), 'and added no guest');
    const resumed = await syncEvent(deps, message);
    assert.equal(resumed.removed, 1, 'the resumed sync still has pages 1 and 2');
  });

  it('a dry run between the stop and the resume leaves the recorded list as it was', async () => {
    const { event, message, list } = await seedEventWithLeaver(db, 4);
    const deps = syncDeps(db, { pageSize: 1, removeStale });
    const stopped = serveStoppingAfter(() => list, message.externalEventId, 2);
    await assert.rejects(syncEvent(deps, message, { signal: stopped }));
    luma.serve({ events: { [message.externalEventId]: list } });

    const dry = await syncEvent(deps, message, { dryRun: true });
    assert.deepEqual(
      dry.staleToRemove?.map((r) => r.externalGuestId),
      ['gst-gone'],
      'the dry run compares with the list it read itself',
    );
    assert.deepEqual(await listedPages(event.uid), [1, 2]);

    const resumed = await syncEvent(deps, message);
    assert.equal(resumed.resumedAtPage, 3);
    assert.equal(resumed.removed, 1);
    assert.deepEqual(await syncedIds(event.uid), list.map((g) => g.id).sort());
  });

  it(`forgets the pages of a read nobody finished within ${LISTED_PAGE_DAYS} days, at any sync's finish`, async () => {
    await sql`
      INSERT INTO luma_guest_sync.listed_page (event_uid, page, guest_ids, member_uids, fetched, unidentified, written_at)
      VALUES ('evt-abandoned', 1, '{gst-a}', '{}', 1, 0, clock_timestamp() - ${LISTED_PAGE_DAYS + 1}::int * interval '1 day'),
             ('evt-paused', 1, '{gst-p}', '{}', 1, 0, clock_timestamp() - ${LISTED_PAGE_DAYS - 1}::int * interval '1 day')`;
    const { message, list } = await seedEventWithLeaver(db, 2);
    luma.serve({ events: { [message.externalEventId]: list } });

    await syncEvent(syncDeps(db, { pageSize: 1 }), message);

    assert.deepEqual(await listedPages('evt-abandoned'), []);
    assert.deepEqual(await listedPages('evt-paused'), [1], 'a younger unfinished read is kept for its resume');
  });
});

function externalGuest(externalGuestId: string, email: string) {
  return { externalGuestId, email, name: null, approvalStatus: 'approved', registeredAt: null };
}
