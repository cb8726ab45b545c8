/**
 * The post-sync push refresh (post-sync.ts) as a caller sees it: with no clock given it
 * stamps the current time, an event without a location refreshes its candidates and no
 * gathering, and the notifications it rewrites stay locked until its transaction ends,
 * so a directory write that arrives meanwhile lands on the refreshed payload instead of
 * making the refresh give up. The directory's write is forced between the refresh's
 * read and its write by a hook on the database handle.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runPostSyncPush } from '../../src/sync/post-sync.ts';
import { createTestDatabase } from '../support/db.ts';
import { seedEvent, seedGuest, seedLocation, seedMember } from '../support/seed.ts';
import { candidatesOf, notification, seedNotification, setPushConfigs } from '../support/seed-push.ts';
import { withTransactionHooks } from '../support/transaction-hooks.ts';

const { db, sql } = await createTestDatabase({ label: 'post_sync' });
await setPushConfigs(db, { minAttendeesPerEvent: 1, upcomingWindowDays: 7, reminderDaysBefore: 1 });

/** A gathering with one upcoming event, `guests` guests of it and a sent notification. */
async function gathering(guests: number) {
  const location = await seedLocation(db);
  const event = await seedEvent(db, { locationUid: location.uid });
  for (let i = 0; i < guests; i++) {
    const member = await seedMember(db);
    await seedGuest(db, { eventUid: event.uid, locationUid: location.uid, memberUid: member.uid });
  }
  const sent = await seedNotification(db, {
    isSent: true,
    metadata: { version: 1, gatheringUid: location.uid, ruleKind: 'UPCOMING', attendees: { total: 0 } },
  });
  return { eventUid: event.uid, locationUid: location.uid, notificationUid: sent.uid };
}

async function waitingForLocks(): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
  return row!.n;
}

describe('the post-sync push refresh', () => {
  it('stamps what it writes with the current time when no clock is given', async () => {
    const g = await gathering(2);
    const before = Date.now();

    const result = await runPostSyncPush({ db }, [g]);

    assert.equal(result.notifications?.updated, 1);
    const [candidate] = await candidatesOf(db, g.eventUid);
    assert.ok(candidate, 'the event has its UPCOMING candidate');
    assert.ok(candidate.updatedAt.getTime() >= before - 1000, 'stamped now');
    assert.ok((await notification(db, g.notificationUid)).updatedAt.getTime() >= before - 1000);
  });

  it('refreshes the candidates of an event without a location and no gathering', async () => {
    const g = await gathering(2);
    const nowhere = await seedEvent(db, { locationUid: null });

    const result = await runPostSyncPush({ db }, [{ eventUid: nowhere.uid, locationUid: null }]);

    assert.deepEqual(result, { candidates: { upserted: 0, deleted: 0 }, notifications: { updated: 0 } });
    const untouched = (await notification(db, g.notificationUid)).metadata as { attendees: { total: number } };
    assert.equal(untouched.attendees.total, 0);
  });

  it('holds the notifications it read until it commits: a directory write meanwhile waits and lands on the refreshed payload', async () => {
    const g = await gathering(3);
    let directoryWrite: Promise<unknown> | undefined;
    // Right after the refresh read the notifications, the directory marks this one seen.
    const hooked = withTransactionHooks(db, {
      afterStatement: {
        matches: (text) => !directoryWrite && text.includes('FROM "PushNotification"'),
        async run() {
          directoryWrite = sql`UPDATE "PushNotification" SET metadata = metadata || '{"seen": true}'::jsonb
            WHERE uid = ${g.notificationUid}`.then(() => 'done');
          // Until it either waits on the row or went through: both are what the test compares.
          for (let i = 0; i < 200; i++) {
            const settled = await Promise.race([directoryWrite, new Promise((r) => setTimeout(r, 25))]);
            if (settled === 'done' || (await waitingForLocks()) > 0) break;
          }
        },
      },
    });

    const result = await runPostSyncPush({ db: hooked }, [g]);
    await directoryWrite;

    assert.ok(directoryWrite, 'the hook ran');
    assert.equal(result.notifications?.updated, 1, 'the refresh was written, not given up');
    const metadata = (await notification(db, g.notificationUid)).metadata as {
      seen?: boolean;
      attendees: { total: number };
    };
    assert.deepEqual({ seen: metadata.seen, total: metadata.attendees.total }, { seen: true, total: 3 });
  });
});
