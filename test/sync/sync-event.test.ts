import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { HttpResponse } from 'msw';
import { createDatabase } from '../../src/db/client.ts';
import { plEvent } from '../../src/db/schema.ts';
import { isPermanent } from '../../src/errors.ts';
import { CURRENT_GUESTS_PATH, type SimGuest } from '../../src/local/luma-simulator.ts';
import { addPageGuests } from '../../src/sync/add-page-guests.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { guestsOf, seedEvent, seedGuest, seedMember, seedTeam, syncMessageFor } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const database = await createTestDatabase({ label: 'sync_event' });
const { db } = database;
const luma = useSimulatedLuma();

const guest = (id: string, email: string, approvalStatus = 'approved'): SimGuest => ({ id, email, approvalStatus });
const externalGuest = (externalGuestId: string, email: string) => ({
  externalGuestId,
  email,
  name: null,
  approvalStatus: 'approved',
  registeredAt: null,
});

async function linkedEvent() {
  const event = await seedEvent(db);
  const message = syncMessageFor(event);
  return { event, message };
}

describe('syncEvent', () => {
  for (const path of ['/v1/event/get-guests', CURRENT_GUESTS_PATH]) {
    it(`adds matched approved guests with their main team, read from ${path}`, async () => {
      const team = await seedTeam(db);
      const other = await seedTeam(db);
      const ada = await seedMember(db, {
        email: `ada-${path.length}@x.org`,
        mainTeamUid: team.uid,
        otherTeamUids: [other.uid],
      });
      const bob = await seedMember(db, { email: `bob-${path.length}@x.org` });
      const { event, message } = await linkedEvent();
      luma.serve({
        events: {
          [message.externalEventId]: [
            guest('gst-1', ada.email!),
            guest('gst-2', bob.email!),
            guest('gst-3', 'stranger@x.org'),
            guest('gst-4', 'declined@x.org', 'declined'),
          ],
        },
      });

      const result = await syncEvent(syncDeps(db, { guestsPath: path }), message);

      assert.deepEqual(
        { fetched: result.fetched, matched: result.matched, created: result.created, skipped: result.skipped },
        { fetched: 3, matched: 2, created: 2, skipped: 0 },
      );
      const rows = await guestsOf(db, event.uid);
      const byMember = new Map(rows.map((r) => [r.memberUid, r]));
      assert.equal(byMember.get(ada.uid)?.teamUid, team.uid, 'main team, not the other team');
      assert.equal(byMember.get(ada.uid)?.externalGuestId, 'gst-1');
      assert.equal(byMember.get(bob.uid)?.teamUid, null, 'a member with no main team gets no team');
      for (const row of rows) {
        assert.equal(row.locationUid, event.locationUid);
        assert.deepEqual([row.isHost, row.isSpeaker, row.isSponsor, row.isFeatured], [false, false, false, false]);
        assert.match(row.uid, /^[a-z0-9]{20,32}$/);
      }
    });
  }

  it('matches emails trimmed and case-insensitively on both sides (one member of case-variant duplicates)', async () => {
    const upper = await seedMember(db, { email: ' ADA@case.org' });
    const lower = await seedMember(db, { email: 'ada@case.org' });
    const { event, message } = await linkedEvent();
    luma.serve({ events: { [message.externalEventId]: [guest('gst-ada', '  Ada@CASE.org ')] } });

    const result = await syncEvent(syncDeps(db), message);

    // Both match; the one written exactly as Luma's (trimmed, lower-cased) email is added
    // (test/sync/repeated-matches.test.ts, issue 21 §5).
    assert.equal(result.created, 1);
    assert.equal(result.ambiguous, 1);
    assert.deepEqual(
      (await guestsOf(db, event.uid)).map((r) => r.memberUid),
      [lower.uid],
    );
    assert.ok(upper.uid);
  });

  it('never matches a soft-deleted member', async () => {
    await seedMember(db, { email: 'gone@x.org', deletedAt: new Date() });
    const { event, message } = await linkedEvent();
    luma.serve({ events: { [message.externalEventId]: [guest('gst-gone', 'gone@x.org')] } });

    const result = await syncEvent(syncDeps(db), message);

    assert.equal(result.matched, 0);
    assert.equal((await guestsOf(db, event.uid)).length, 0);
  });

  it('adds a member once when their email repeats within a page and across pages', async () => {
    const ada = await seedMember(db, { email: 'repeat@x.org' });
    const { event, message } = await linkedEvent();
    luma.serve({
      events: {
        [message.externalEventId]: [
          guest('gst-a', 'repeat@x.org'),
          guest('gst-b', 'REPEAT@x.org'),
          guest('gst-c', 'other1@x.org'),
          guest('gst-d', 'other2@x.org'),
          guest('gst-e', 'repeat@x.org'),
        ],
      },
    });

    const result = await syncEvent(syncDeps(db, { pageSize: 2 }), message);

    assert.equal(result.pages, 3);
    assert.equal(result.created, 1);
    const rows = await guestsOf(db, event.uid);
    assert.deepEqual(
      rows.map((r) => [r.memberUid, r.externalGuestId]),
      [[ada.uid, 'gst-a']],
    );
  });

  it('leaves a guest row the directory created alone and adds no second one', async () => {
    const ada = await seedMember(db, { email: 'listed@x.org' });
    const { event, message } = await linkedEvent();
    const existing = await seedGuest(db, {
      eventUid: event.uid,
      locationUid: event.locationUid!,
      memberUid: ada.uid,
      reason: 'speaking',
    });
    luma.serve({ events: { [message.externalEventId]: [guest('gst-listed', 'listed@x.org')] } });

    const result = await syncEvent(syncDeps(db), message);

    assert.equal(result.created, 0);
    assert.deepEqual(await guestsOf(db, event.uid), [existing]);
  });

  it('ends in the same rows when the same message is delivered again', async () => {
    const members = await Promise.all([1, 2, 3].map((i) => seedMember(db, { email: `again${i}@x.org` })));
    const { event, message } = await linkedEvent();
    luma.serve({ events: { [message.externalEventId]: members.map((m, i) => guest(`gst-${i}`, m.email!)) } });

    const first = await syncEvent(syncDeps(db, { pageSize: 2 }), message);
    const rowsAfterFirst = await guestsOf(db, event.uid);
    const second = await syncEvent(syncDeps(db, { pageSize: 2 }), message);

    assert.equal(first.created, 3);
    assert.equal(second.created, 0);
    assert.equal(second.matched, 3);
    assert.deepEqual(await guestsOf(db, event.uid), rowsAfterFirst);
  });

  it('writes no duplicate when four writers add the same pages at the same moment', async () => {
    // Two syncs of one event never overlap (event-lock.test.ts); this is the database's
    // own guard beneath that lock, for anything that writes without it.
    const members = await Promise.all(
      Array.from({ length: 40 }, (_, i) => seedMember(db, { email: `race${i}@x.org` })),
    );
    const { event } = await linkedEvent();
    const target = { eventUid: event.uid, locationUid: event.locationUid! };
    const pages = Array.from({ length: 8 }, (_, p) =>
      members.slice(p * 5, p * 5 + 5).map((m, i) => externalGuest(`gst-r${p * 5 + i}`, m.email!)),
    );

    const created = await Promise.all(
      Array.from({ length: 4 }, async () => {
        let n = 0;
        for (const page of pages) n += (await addPageGuests({ db }, target, page)).createdMemberUids.length;
        return n;
      }),
    );

    const rows = await guestsOf(db, event.uid);
    assert.equal(rows.length, 40);
    assert.equal(new Set(rows.map((r) => r.memberUid)).size, 40);
    assert.equal(
      created.reduce((a, b) => a + b, 0),
      40,
      'each row is counted by exactly one writer',
    );
  });

  it('records guestLastSyncedAt only after every page succeeded', async () => {
    const members = await Promise.all([1, 2, 3, 4].map((i) => seedMember(db, { email: `half${i}@x.org` })));
    const { event, message } = await linkedEvent();
    const list = members.map((m, i) => guest(`gst-h${i}`, m.email!));
    luma.serve({
      events: { [message.externalEventId]: list },
      fault: (_request, page) => (page === 2 ? HttpResponse.text('upstream down', { status: 502 }) : undefined),
    });

    await assert.rejects(syncEvent(syncDeps(db, { pageSize: 2 }), message), (err) => !isPermanent(err));
    const [half] = await db.select().from(plEvent).where(eq(plEvent.uid, event.uid));
    assert.equal(half?.guestLastSyncedAt, null, 'untouched after a failure halfway');
    assert.equal((await guestsOf(db, event.uid)).length, 2, 'the first page’s guests stay');

    luma.serve({ events: { [message.externalEventId]: list } });
    const before = Date.now();
    const retry = await syncEvent(syncDeps(db, { pageSize: 2 }), message);
    assert.equal(retry.created, 2, 'the redelivery adds only the rest');
    const [done] = await db.select().from(plEvent).where(eq(plEvent.uid, event.uid));
    assert.ok(done?.guestLastSyncedAt && done.guestLastSyncedAt.getTime() >= before - 1000);
    assert.equal(done?.updatedAt.getTime(), done?.guestLastSyncedAt?.getTime());
  });

  it('reads the list again when Luma rejects a cursor mid-list, counting every guest once', async () => {
    const members = await Promise.all([1, 2, 3, 4, 5].map((i) => seedMember(db, { email: `cursor${i}@x.org` })));
    const { event, message } = await linkedEvent();
    let rejected = 0;
    luma.serve({
      events: { [message.externalEventId]: members.map((m, i) => guest(`gst-c${i}`, m.email!)) },
      // The cursor of page 3 has expired on its first use, as Luma's do when a list changes.
      fault: (_request, page) =>
        page === 3 && rejected++ === 0 ? HttpResponse.json({ message: 'Invalid cursor' }, { status: 400 }) : undefined,
    });

    const result = await syncEvent(syncDeps(db, { pageSize: 2 }), message);

    assert.deepEqual(
      { pages: result.pages, fetched: result.fetched, matched: result.matched, created: result.created },
      { pages: 3, fetched: 5, matched: 5, created: 5 },
    );
    assert.equal((await guestsOf(db, event.uid)).length, 5);
    const [row] = await db.select().from(plEvent).where(eq(plEvent.uid, event.uid));
    assert.notEqual(row?.guestLastSyncedAt, null);
  });

  it('writes nothing in a dry run but reports what it would create', async () => {
    const members = await Promise.all([1, 2].map((i) => seedMember(db, { email: `dry${i}@x.org` })));
    const { event, message } = await linkedEvent();
    luma.serve({
      events: { [message.externalEventId]: [...members, members[0]!].map((m, i) => guest(`gst-d${i}`, m.email!)) },
    });

    const result = await syncEvent(syncDeps(db, { pageSize: 1 }), message, { dryRun: true });

    assert.equal(result.dryRun, true);
    assert.equal(result.created, 2);
    assert.equal((await guestsOf(db, event.uid)).length, 0);
    const [row] = await db.select().from(plEvent).where(eq(plEvent.uid, event.uid));
    assert.equal(row?.guestLastSyncedAt, null);
  });

  it('syncs with the event as the directory has it now when the message is stale', async () => {
    const ada = await seedMember(db, { email: 'moved@x.org' });
    const { event, message } = await linkedEvent();
    luma.serve({ events: { [message.externalEventId]: [guest('gst-moved', 'moved@x.org')] } });

    await syncEvent(syncDeps(db), { ...message, locationUid: 'a-location-it-left' });

    const rows = await guestsOf(db, event.uid);
    assert.deepEqual(
      rows.map((r) => [r.memberUid, r.locationUid]),
      [[ada.uid, event.locationUid]],
    );
  });

  it('fails permanently for an event the directory lacks, has deleted, or no longer links', async () => {
    const { message } = await linkedEvent();
    const deleted = await seedEvent(db, { isDeleted: true });
    const unlinked = await seedEvent(db, { externalEventProvider: null });
    const cases = [
      [{ ...message, eventUid: 'no-such-event' }, 'event_not_found'],
      [{ ...message, eventUid: deleted.uid }, 'event_deleted'],
      [{ ...message, eventUid: unlinked.uid }, 'event_not_linked'],
    ] as const;
    for (const [msg, kind] of cases) {
      await assert.rejects(syncEvent(syncDeps(db), msg), (err) => isPermanent(err) && err.kind === kind);
    }
  });

  it('counts entries without a usable id or email as skipped', async () => {
    await seedMember(db, { email: 'ok@skip.org' });
    const { message } = await linkedEvent();
    luma.serve({
      events: {
        [message.externalEventId]: [guest('gst-ok', 'ok@skip.org'), guest('', 'noid@skip.org'), guest('gst-x', '')],
      },
    });

    const result = await syncEvent(syncDeps(db), message);

    assert.deepEqual([result.fetched, result.skipped, result.created], [1, 2, 1]);
  });

  it('costs one statement per page, on a first sync and a re-sync, at page size 10 and 100, and no more when pages wait', async () => {
    const members = await Promise.all(
      Array.from({ length: 200 }, (_, i) => seedMember(db, { email: `count${i}@x.org` })),
    );
    const perPage = async (statementGuests?: number) => {
      const runs: Record<number, { first: number; resync: number; pages: number }> = {};
      for (const pageSize of [10, 100]) {
        const { message } = await linkedEvent();
        luma.serve({ events: { [message.externalEventId]: members.map((m, i) => guest(`gst-c${i}`, m.email!)) } });
        const deps = (countedDb: typeof db) => syncDeps(countedDb, { pageSize, statementGuests });
        const first = await countStatements((countedDb) => syncEvent(deps(countedDb), message));
        const resync = await countStatements((countedDb) => syncEvent(deps(countedDb), message));
        assert.equal(resync.result.created, 0);
        assert.equal(first.result.created, members.length);
        runs[pageSize] = { first: first.statements, resync: resync.statements, pages: first.result.pages };
      }
      const small = runs[10]!;
      const large = runs[100]!;
      // The difference between the two runs is the per-page cost alone: the fixed cost cancels out.
      return {
        first: (small.first - large.first) / (small.pages - large.pages),
        resync: (small.resync - large.resync) / (small.pages - large.pages),
      };
    };

    // A page per statement (pages never put together): what one page costs.
    const alone = await perPage(1);
    assert.equal(alone.first, 1, 'match and insert are one statement');
    assert.equal(alone.resync, 1);
    // As a sync runs, pages read while a statement runs go out together: never more.
    const together = await perPage();
    assert.ok(together.first <= 1, `first sync: ${together.first} statements a page`);
    assert.ok(together.resync <= 1, `re-sync: ${together.resync} statements a page`);
  });
});

async function countStatements<T>(run: (db: typeof database.db) => Promise<T>) {
  let statements = 0;
  const counted = createDatabase({ url: database.url, poolMax: 1, onQuery: () => statements++ });
  await counted.sql`SELECT 1`; // the connection's own setup queries are not the sync's
  statements = 0;
  try {
    const result = await run(counted.db);
    return { result, statements };
  } finally {
    await counted.close();
  }
}
