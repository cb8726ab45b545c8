/**
 * Issue 22: a fenced page statement inserts without ON CONFLICT DO NOTHING (it cost
 * 10–20% of a first sync's database time). The fence makes the sync the event's only
 * writer of synced rows and the existing-guest probe skips every member already listed,
 * so a unique-index conflict can only come from something writing synced rows around the
 * claim: then the page fails, with the index named, instead of hiding it. Unfenced
 * writes (tests, tools) keep ON CONFLICT DO NOTHING (sync-event.test.ts: four writers).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addPageGuests } from '../../src/sync/add-page-guests.ts';
import { acquireClaim } from '../../src/sync/claim.ts';
import { createTestDatabase } from '../support/db.ts';
import { until } from '../support/faults.ts';
import { guestsOf, seedEvent, seedMember } from '../support/seed.ts';

const { db, sql } = await createTestDatabase({ label: 'fenced_insert' });

const externalGuest = (externalGuestId: string, email: string) => ({
  externalGuestId,
  email,
  name: null,
  approvalStatus: 'approved',
  registeredAt: null,
});

describe('the fenced page insert', () => {
  it('fails the page, naming the unique index, when a synced row of the member is written around the claim', async () => {
    const event = await seedEvent(db);
    const member = await seedMember(db);
    const target = { eventUid: event.uid, locationUid: event.locationUid! };
    const claim = await acquireClaim(db, event.uid, { leaseSeconds: 60 });
    const checkpoint = { nextCursor: null, pagesDone: 1, externalEventId: event.externalEventId! };

    // A writer that ignores the claim inserts the same synced row and has not committed:
    // the page's probe cannot see it, and its insert waits on the unique index.
    let commit!: () => void;
    const committed = new Promise<void>((resolve) => {
      commit = resolve;
    });
    let inserted!: () => void;
    const rowWritten = new Promise<void>((resolve) => {
      inserted = resolve;
    });
    const outside = sql.begin(async (tx) => {
      await tx`
        INSERT INTO "PLEventGuest" (uid, "eventUid", "locationUid", "memberUid", "externalGuestId", "updatedAt")
        VALUES ('outside-row', ${event.uid}, ${event.locationUid!}, ${member.uid}, 'gst-outside', now())`;
      inserted();
      await committed;
    });
    await rowWritten;
    // Settled into a value at once: the page fails as soon as the other writer commits,
    // which may be before `await outside` returns (an unhandled rejection in between).
    const page = addPageGuests({ db }, target, [externalGuest('gst-page', member.email!)], {
      fence: { claim, checkpoint },
    }).then(
      () => undefined,
      (err: Error) => err,
    );
    await until('the page insert to wait for the other writer', async () => {
      const [row] = await sql<{ waiting: number }[]>`
        SELECT count(*)::int AS waiting FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%event_claim%'`;
      return (row?.waiting ?? 0) > 0;
    });
    commit();
    await outside;

    const err = await page;
    assert.ok(err instanceof Error, 'the page failed');
    assert.match(
      `${err.message} ${(err.cause as Error | undefined)?.message ?? ''} ${JSON.stringify(err)}`,
      /PLEventGuest_synced_event_member_key/,
    );
    assert.deepEqual(
      (await guestsOf(db, event.uid)).map((r) => r.externalGuestId),
      ['gst-outside'],
      'the page wrote nothing',
    );
  });
});
