/**
 * Issue 10, item 3: an event the directory moves to another location keeps one synced
 * row per member; the synced rows follow it, the directory's own rows stay as they are.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import * as schema from '../../src/db/schema.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import type { SyncMessage } from '../../src/sync/types.ts';
import { createTestDatabase } from '../support/db.ts';
import { guestsOf, seedEvent, seedGuest, seedLocation, seedMember } from '../support/seed.ts';
import { candidatesOf, notification, seedNotification, setPushConfigs } from '../support/seed-push.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const { db } = await createTestDatabase({ label: 'moved_event' });
const luma = useSimulatedLuma();
await setPushConfigs(db, { minAttendeesPerEvent: 1, upcomingWindowDays: 7, reminderDaysBefore: 3 });

describe('an event moved to another location', () => {
  it('keeps one synced row per member, moved with the event, and counts each member once', async () => {
    const event = await seedEvent(db);
    const from = event.locationUid!;
    const members = await Promise.all([1, 2, 3].map(() => seedMember(db)));
    const walkIn = await seedMember(db);
    const message: SyncMessage = {
      eventUid: event.uid,
      externalEventId: event.externalEventId!,
      locationUid: from,
      providerType: 'LUMA',
    };
    luma.serve({
      events: { [message.externalEventId]: members.map((m, i) => ({ id: `gst-mv-${i}`, email: m.email! })) },
    });
    await syncEvent(syncDeps(db), message);
    // A row the directory created at the old location, for a member not on Luma.
    const directoryRow = await seedGuest(db, { eventUid: event.uid, locationUid: from, memberUid: walkIn.uid });
    const oldNotification = await seedNotification(db, {
      isSent: true,
      metadata: { version: 1, gatheringUid: from, ruleKind: 'UPCOMING', attendees: { total: 4 } },
    });

    const to = (await seedLocation(db)).uid;
    await db.update(schema.plEvent).set({ locationUid: to }).where(eq(schema.plEvent.uid, event.uid));
    const result = await syncEvent(syncDeps(db), { ...message, locationUid: to });

    assert.equal(result.created, 0);
    const rows = await guestsOf(db, event.uid);
    const synced = rows.filter((r) => r.externalGuestId !== null);
    assert.deepEqual(synced.map((r) => r.memberUid).sort(), members.map((m) => m.uid).sort(), 'one row per member');
    assert.deepEqual(new Set(synced.map((r) => r.locationUid)), new Set([to]), 'synced rows follow the event');
    assert.deepEqual(
      rows.find((r) => r.uid === directoryRow.uid),
      directoryRow,
      'the directory’s row is untouched',
    );
    const [candidate] = await candidatesOf(db, event.uid);
    assert.equal(candidate?.attendeeCount, 4);
    assert.equal(candidate?.gatheringUid, to);
    // The gathering the event left is refreshed too: its guests no longer count there.
    const left = (await notification(db, oldNotification.uid)).metadata as { attendees: { total: number } };
    assert.equal(left.attendees.total, 0);
  });
});
