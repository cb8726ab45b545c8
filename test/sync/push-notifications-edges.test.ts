/**
 * What push-notifications.test.ts leaves open (Stryker found it unpinned): a gathering
 * nobody is going to, blank location uids, a refresh with no clock or logger, the
 * notifications skipped for want of a rule kind, and a caller without a transaction
 * losing a notification to a directory write between the read and the write (forced
 * by a hook on the database handle): that one is left as the directory wrote it, the
 * others are written, and the warning names it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SQL } from 'drizzle-orm';
import type { Db } from '../../src/db/client.ts';
import { refreshSentNotifications } from '../../src/sync/push-notifications.ts';
import { writeNotifications } from '../../src/sync/push-queries.ts';
import { createTestDatabase } from '../support/db.ts';
import { DAY, seedEvent, seedGuest, seedLocation, seedMember } from '../support/seed.ts';
import { notification, seedCandidate, seedNotification, setPushConfigs } from '../support/seed-push.ts';
import { captureLogger } from '../support/sqs-queue.ts';

const { db, sql } = await createTestDatabase({ label: 'push_notifications_edges' });
await setPushConfigs(db, { minAttendeesPerEvent: 1, upcomingWindowDays: 7, reminderDaysBefore: 1 });
const NOW = new Date('2026-03-10T12:00:00.000Z');

const sent = (gatheringUid: string, extra: Record<string, unknown> = {}) =>
  seedNotification(db, {
    isSent: true,
    metadata: { version: 1, gatheringUid, ruleKind: 'UPCOMING', attendees: { total: 9 }, ...extra },
  });

type Metadata = { attendees: { total: number; topAttendees: unknown[] }; seen?: boolean };
const metadataOf = async (uid: string) => (await notification(db, uid)).metadata as Metadata;

describe('refreshSentNotifications, edges', () => {
  it('gives a gathering nobody is going to an empty "Who’s Going", with or without candidates', async () => {
    const location = await seedLocation(db);
    const event = await seedEvent(db, {
      locationUid: location.uid,
      startDate: new Date(NOW.getTime() + DAY),
      endDate: new Date(NOW.getTime() + 2 * DAY),
    });
    const kept = await sent(location.uid, { ruleKind: 'REMINDER' });
    const rebuilt = await sent(location.uid);
    await seedCandidate(db, {
      ruleKind: 'UPCOMING',
      gatheringUid: location.uid,
      eventUid: event.uid,
      eventStartDate: event.startDate,
      eventEndDate: event.endDate,
    });
    const { log, lines } = captureLogger();

    assert.deepEqual(await refreshSentNotifications({ db, now: () => NOW, log }, [location.uid]), { updated: 2 });

    for (const uid of [kept.uid, rebuilt.uid]) {
      assert.deepEqual((await metadataOf(uid)).attendees, { total: 0, topAttendees: [] });
    }
    assert.deepEqual(lines, [], 'nothing to warn about when every notification was written');
  });

  it('refreshes nothing for blank location uids, even a notification whose gathering uid is blank', async () => {
    const blank = await sent('');
    assert.deepEqual(await refreshSentNotifications({ db, now: () => NOW }, ['', '']), { updated: 0 });
    assert.deepEqual(await refreshSentNotifications({ db, now: () => NOW }, []), { updated: 0 });
    assert.equal((await metadataOf(blank.uid)).attendees.total, 9);
  });

  it('writes nothing and names nothing written for no updates', async () => {
    assert.deepEqual(await writeNotifications(db, [], NOW), []);
  });

  it('uses the current time when no clock is given', async () => {
    const location = await seedLocation(db);
    const notice = await sent(location.uid);
    const before = Date.now();
    assert.deepEqual(await refreshSentNotifications({ db }, [location.uid]), { updated: 1 });
    assert.ok((await notification(db, notice.uid)).updatedAt.getTime() >= before - 1000);
  });

  it('skips, and says so at debug level, a notification without a known rule kind', async () => {
    const location = await seedLocation(db);
    const notice = await sent(location.uid, { ruleKind: 'LATER' });
    const { log, lines } = captureLogger();

    assert.deepEqual(await refreshSentNotifications({ db, now: () => NOW, log }, [location.uid]), { updated: 0 });

    assert.equal((await metadataOf(notice.uid)).attendees.total, 9);
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg, l.pushUid, l.ruleKind]),
      [[20, 'push notification without a known ruleKind skipped', notice.uid, 'LATER']],
    );
    // Without a logger the skip is silent, not an error.
    assert.deepEqual(await refreshSentNotifications({ db, now: () => NOW }, [location.uid]), { updated: 0 });
  });

  for (const withLogger of [true, false]) {
    it(`outside a transaction, leaves a notification the directory rewrote after the read, writes the others${withLogger ? ' and warns naming it' : ', with no logger either'}`, async () => {
      const location = await seedLocation(db);
      const member = await seedMember(db);
      const event = await seedEvent(db, { locationUid: location.uid });
      await seedGuest(db, { eventUid: event.uid, locationUid: location.uid, memberUid: member.uid });
      const rewritten = await sent(location.uid);
      const other = await sent(location.uid, { ruleKind: 'REMINDER' });
      let rewrote = false;
      // No transaction holds the rows: the directory's write goes through at once.
      const hooked = new Proxy(db, {
        get(target, key, receiver) {
          if (key !== 'execute') return Reflect.get(target, key, receiver);
          return async (query: SQL) => {
            const rows = await target.execute(query);
            if (!rewrote && textOf(query).includes('FROM "PushNotification"')) {
              rewrote = true;
              await sql`UPDATE "PushNotification" SET metadata = metadata || '{"seen": true}'::jsonb
                WHERE uid = ${rewritten.uid}`;
            }
            return rows;
          };
        },
      }) as Db;
      const { log, lines } = captureLogger();

      const result = await refreshSentNotifications({ db: hooked, now: () => NOW, ...(withLogger ? { log } : {}) }, [
        location.uid,
      ]);

      assert.deepEqual(result, { updated: 1 });
      const kept = await metadataOf(rewritten.uid);
      assert.deepEqual([kept.seen, kept.attendees.total], [true, 9], 'as the directory wrote it');
      assert.equal((await metadataOf(other.uid)).attendees.total, 1, 'the other one is refreshed');
      if (withLogger) {
        assert.deepEqual(
          lines.map((l) => [l.level, l.msg, l.pushUids]),
          [
            [
              40,
              'push notifications changed between their read and the write (no transaction held them); left as they are',
              [rewritten.uid],
            ],
          ],
        );
      }
    });
  }
});

/** The text of a Drizzle statement, to recognise it in a hook. */
function textOf(query: SQL): string {
  return (query as unknown as { queryChunks: unknown[] }).queryChunks
    .map((chunk) => {
      const value = (chunk as { value?: unknown }).value;
      return Array.isArray(value) ? value.join('') : '';
    })
    .join('');
}
