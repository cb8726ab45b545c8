/**
 * What a sync does once its pages are written (finish-sync.ts), called directly with a
 * claim: what a completed sync writes and in which transaction, what a dry run leaves
 * alone, and that a claim lost before either transaction writes nothing more. The
 * takeover between the two transactions is forced by a hook on the database handle.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import type { Db } from '../../src/db/client.ts';
import * as schema from '../../src/db/schema.ts';
import { silentLogger } from '../../src/log.ts';
import { acquireClaim, type Claim, ClaimLostError } from '../../src/sync/claim.ts';
import { finishSync } from '../../src/sync/finish-sync.ts';
import type { StaleInput } from '../../src/sync/remove-stale.ts';
import { createTestDatabase } from '../support/db.ts';
import { guestsOf, seedEvent, seedGuest, seedLocation, seedMember } from '../support/seed.ts';
import { candidatesOf, notification, seedNotification, setPushConfigs } from '../support/seed-push.ts';
import { withTransactionHooks } from '../support/transaction-hooks.ts';

const { db, sql } = await createTestDatabase({ label: 'finish_sync' });
await setPushConfigs(db, { minAttendeesPerEvent: 1, upcomingWindowDays: 7, reminderDaysBefore: 1 });
const at = new Date(Date.UTC(2026, 11, 5, 12, 0, 0, 123));
// The event ends within the upcoming window of `at`, so a refresh gives it a candidate.
const startDate = new Date(at.getTime() + 2 * 86_400_000);
const endDate = new Date(at.getTime() + 3 * 86_400_000);

/**
 * An event moved from `from` to `to` (its synced rows still at `from`): one synced row
 * of a member still on the list, one of a member who left Luma, one row the directory
 * created; the read's list recorded as one page; a claim with a checkpoint; and a sent
 * notification of the gathering the event left, counting its guests there.
 */
async function finishedRead() {
  const from = (await seedLocation(db)).uid;
  const to = (await seedLocation(db)).uid;
  const event = await seedEvent(db, { locationUid: to, startDate, endDate });
  const [kept, gone, walkIn] = await Promise.all([seedMember(db), seedMember(db), seedMember(db)]);
  const row = (memberUid: string, externalGuestId: string | null) =>
    seedGuest(db, { eventUid: event.uid, locationUid: from, memberUid, externalGuestId });
  await row(kept.uid, 'gst-kept');
  await row(gone.uid, 'gst-gone');
  const directoryRow = await row(walkIn.uid, null);
  await sql`INSERT INTO luma_guest_sync.listed_page (event_uid, page, guest_ids, member_uids, fetched, unidentified)
    VALUES (${event.uid}, 1, ${['gst-kept']}, ${[kept.uid]}, 1, 0)`;
  const left = await seedNotification(db, {
    isSent: true,
    metadata: { version: 1, gatheringUid: from, ruleKind: 'UPCOMING', attendees: { total: 3 } },
  });
  const claim = await acquireClaim(db, event.uid, { leaseSeconds: 60, holder: 'finish:1' });
  await sql`UPDATE luma_guest_sync.event_claim SET next_cursor = 'cursor-2', pages_done = 1, cursor_event_id = ${event.externalEventId}
    WHERE event_uid = ${event.uid}`;
  const target = { eventUid: event.uid, locationUid: to, externalEventId: event.externalEventId! };
  const stale: StaleInput = { eventUid: event.uid, list: { kind: 'pages', lastPage: 1 }, maxShare: 1, dryRun: false };
  return { event, from, to, kept, gone, directoryRow, left, claim, target, stale };
}

const deps = (handle: Db = db) => ({ db: handle, now: () => at, log: silentLogger });

async function claimRow(eventUid: string) {
  const [row] = await sql<{ token: string; next_cursor: string | null; pages_done: number; held: boolean }[]>`
    SELECT token::text, next_cursor, pages_done, expires_at > clock_timestamp() AS held
    FROM luma_guest_sync.event_claim WHERE event_uid = ${eventUid}`;
  return row!;
}

async function lastSynced(eventUid: string) {
  const [row] = await db
    .select({ guestLastSyncedAt: schema.plEvent.guestLastSyncedAt, updatedAt: schema.plEvent.updatedAt })
    .from(schema.plEvent)
    .where(eq(schema.plEvent.uid, eventUid));
  return row!;
}

async function listedPages(eventUid: string) {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM luma_guest_sync.listed_page WHERE event_uid = ${eventUid}`;
  return row!.n;
}

const attendeesTotal = async (uid: string) =>
  ((await notification(db, uid)).metadata as { attendees: { total: number } }).attendees.total;

/** A sync that took the claim over after this one's lease ran out. */
async function takeOver(claim: Claim) {
  await sql`UPDATE luma_guest_sync.event_claim SET expires_at = clock_timestamp() - interval '1 second'
    WHERE event_uid = ${claim.eventUid}`;
  return acquireClaim(db, claim.eventUid, { leaseSeconds: 60, holder: 'successor:1' });
}

describe('finishing a completed sync', () => {
  it('moves the synced rows, removes stale ones, records the sync time, forgets the list, refreshes push data of both gatherings and releases the claim clearing its checkpoint', async () => {
    const f = await finishedRead();

    const outcome = await finishSync(deps(), f.claim, f.target, { dryRun: false, stale: f.stale });

    assert.deepEqual(outcome.followed, { moved: 2, leftLocationUids: [f.from] });
    assert.deepEqual(
      { synced: outcome.stale?.synced, stale: outcome.stale?.stale, removed: outcome.stale?.removed },
      { synced: 2, stale: 1, removed: 1 },
    );
    const rows = await guestsOf(db, f.event.uid);
    assert.deepEqual(rows.map((r) => r.memberUid).sort(), [f.kept.uid, f.directoryRow.memberUid].sort());
    assert.equal(rows.find((r) => r.memberUid === f.kept.uid)?.locationUid, f.to, 'the synced row followed');
    assert.equal(rows.find((r) => r.uid === f.directoryRow.uid)?.locationUid, f.from, 'the directory’s row stays');
    assert.deepEqual(await lastSynced(f.event.uid), { guestLastSyncedAt: at, updatedAt: at });
    assert.equal(await listedPages(f.event.uid), 0, 'the recorded list is forgotten');

    const candidates = await candidatesOf(db, f.event.uid);
    assert.deepEqual(
      candidates.map((c) => [c.ruleKind, c.gatheringUid, c.attendeeCount]),
      [['UPCOMING', f.to, 2]],
      'the event’s gathering is refreshed, counting the guests left after removal',
    );
    assert.equal(await attendeesTotal(f.left.uid), 0, 'the gathering the event left is refreshed too');

    const claim = await claimRow(f.event.uid);
    assert.deepEqual(
      { held: claim.held, next_cursor: claim.next_cursor, pages_done: claim.pages_done },
      { held: false, next_cursor: null, pages_done: 0 },
      'released, and the next sync reads the whole list',
    );
  });

  it('keeps every row when stale removal is not asked for, and reports no removal', async () => {
    const f = await finishedRead();

    const outcome = await finishSync(deps(), f.claim, f.target, { dryRun: false });

    assert.equal(outcome.stale, undefined);
    assert.equal((await guestsOf(db, f.event.uid)).length, 3);
    assert.equal(await listedPages(f.event.uid), 0, 'the list is forgotten even when removal is off');
    assert.deepEqual(await lastSynced(f.event.uid), { guestLastSyncedAt: at, updatedAt: at });
  });

  it('reports nothing followed when the event did not move', async () => {
    const f = await finishedRead();
    const stayed = { ...f.target, locationUid: f.from };
    await db.update(schema.plEvent).set({ locationUid: f.from }).where(eq(schema.plEvent.uid, f.event.uid));

    const outcome = await finishSync(deps(), f.claim, stayed, { dryRun: false });

    assert.deepEqual(outcome.followed, { moved: 0, leftLocationUids: [] });
    assert.equal(await attendeesTotal(f.left.uid), 3, 'the gathering it never left keeps its guests');
  });

  it('leaves a listed read of another event that is still fresh', async () => {
    const f = await finishedRead();
    const other = await finishedRead();

    await finishSync(deps(), f.claim, f.target, { dryRun: false, stale: f.stale });

    assert.equal(await listedPages(other.event.uid), 1);
  });
});

describe('finishing a dry run', () => {
  it('reports what removal would do and writes nothing: no row moved or removed, no sync time, no push data, the list and the checkpoint kept', async () => {
    const f = await finishedRead();

    const outcome = await finishSync(deps(), f.claim, f.target, { dryRun: true, stale: f.stale });

    assert.deepEqual(outcome.followed, { moved: 0, leftLocationUids: [] });
    assert.deepEqual(
      { stale: outcome.stale?.stale, removed: outcome.stale?.removed, staleRows: outcome.stale?.staleRows },
      { stale: 1, removed: 0, staleRows: [{ memberUid: f.gone.uid, externalGuestId: 'gst-gone' }] },
    );
    const rows = await guestsOf(db, f.event.uid);
    assert.equal(rows.length, 3, 'nothing removed');
    assert.deepEqual(new Set(rows.map((r) => r.locationUid)), new Set([f.from]), 'nothing moved');
    assert.equal((await lastSynced(f.event.uid)).guestLastSyncedAt, null);
    assert.equal(await listedPages(f.event.uid), 1);
    assert.deepEqual(await candidatesOf(db, f.event.uid), []);
    assert.equal(await attendeesTotal(f.left.uid), 3);

    const claim = await claimRow(f.event.uid);
    assert.deepEqual(
      { held: claim.held, next_cursor: claim.next_cursor, pages_done: claim.pages_done },
      { held: false, next_cursor: 'cursor-2', pages_done: 1 },
      'released, keeping the checkpoint',
    );
  });

  it('reports no removal when none is asked for, and still releases the claim', async () => {
    const f = await finishedRead();

    const outcome = await finishSync(deps(), f.claim, f.target, { dryRun: true });

    assert.deepEqual(outcome, { followed: { moved: 0, leftLocationUids: [] } });
    assert.equal((await claimRow(f.event.uid)).held, false);
  });

  it('releases the claim even when the removal’s count fails', async () => {
    const f = await finishedRead();
    let calls = 0;
    // The first statement (removal's count) fails; the release after it goes through.
    const failingOnce = new Proxy(db, {
      get(target, key, receiver) {
        if (key !== 'execute') return Reflect.get(target, key, receiver);
        return (query: Parameters<Db['execute']>[0]) =>
          ++calls === 1 ? Promise.reject(new Error('connection reset')) : target.execute(query);
      },
    });

    await assert.rejects(finishSync(deps(failingOnce), f.claim, f.target, { dryRun: true, stale: f.stale }), {
      message: 'connection reset',
    });
    assert.equal((await claimRow(f.event.uid)).held, false);
  });
});

describe('finishing after the claim was lost', () => {
  it('writes nothing when the claim was taken over before the finish', async () => {
    const f = await finishedRead();
    const successor = await takeOver(f.claim);

    await assert.rejects(finishSync(deps(), f.claim, f.target, { dryRun: false, stale: f.stale }), ClaimLostError);

    const rows = await guestsOf(db, f.event.uid);
    assert.equal(rows.length, 3, 'nothing removed');
    assert.deepEqual(new Set(rows.map((r) => r.locationUid)), new Set([f.from]), 'nothing moved');
    assert.equal((await lastSynced(f.event.uid)).guestLastSyncedAt, null);
    assert.equal(await listedPages(f.event.uid), 1);
    assert.deepEqual(await candidatesOf(db, f.event.uid), []);
    const claim = await claimRow(f.event.uid);
    assert.deepEqual([claim.token, claim.held, claim.next_cursor], [successor.token, true, 'cursor-2']);
  });

  it('refreshes no push data and leaves the successor’s claim when it is taken over between the two transactions', async () => {
    const f = await finishedRead();
    let successor: Claim | undefined;
    const takenOverAfterFirst = withTransactionHooks(db, {
      async beforeBegin(n) {
        if (n === 2) successor = await takeOver(f.claim);
      },
    });

    await assert.rejects(
      finishSync(deps(takenOverAfterFirst), f.claim, f.target, { dryRun: false, stale: f.stale }),
      ClaimLostError,
    );

    assert.deepEqual(await lastSynced(f.event.uid), { guestLastSyncedAt: at, updatedAt: at }, 'the first committed');
    assert.deepEqual(await candidatesOf(db, f.event.uid), [], 'the refresh is not written');
    assert.equal(await attendeesTotal(f.left.uid), 3);
    const claim = await claimRow(f.event.uid);
    assert.deepEqual([claim.token, claim.held, claim.next_cursor], [successor?.token, true, 'cursor-2']);
  });
});
