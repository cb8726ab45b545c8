import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Db } from '../../src/db/client.ts';
import type * as s from '../../src/db/schema.ts';
import { refreshPushCandidates } from '../../src/sync/push-candidates.ts';
import { createTestDatabase } from '../support/db.ts';
import { DAY, seedEvent, seedGuest, seedMember } from '../support/seed.ts';
import { candidatesOf, seedCandidate, setPushConfigs } from '../support/seed-push.ts';

const { db } = await createTestDatabase({ label: 'push_candidates' });

const NOW = new Date('2026-03-10T12:00:00.000Z');
const UPCOMING_END = new Date(NOW.getTime() + 7 * DAY);
const REMINDER_END = new Date(NOW.getTime() + 1 * DAY);
const HOUR = 3_600_000;
const at = (ms: number) => new Date(NOW.getTime() + ms);
const deps = { db, now: () => NOW };
const defaultConfig = { minAttendeesPerEvent: 3, upcomingWindowDays: 7, reminderDaysBefore: 1 };

async function eventWithGuests(database: Db, guests: number, values: Partial<typeof s.plEvent.$inferInsert>) {
  const event = await seedEvent(database, values);
  for (let i = 0; i < guests; i++) {
    const member = await seedMember(database);
    await seedGuest(database, { eventUid: event.uid, locationUid: event.locationUid!, memberUid: member.uid });
  }
  return event;
}

async function kinds(eventUid: string) {
  return (await candidatesOf(db, eventUid)).map((c) => c.ruleKind).sort();
}

describe('refreshPushCandidates', () => {
  it('qualifies both rules when endDate and startDate are exactly now', async () => {
    await setPushConfigs(db, defaultConfig);
    const event = await eventWithGuests(db, 3, { startDate: NOW, endDate: NOW });
    assert.deepEqual(await refreshPushCandidates(deps, [event.uid]), { upserted: 2, deleted: 0 });
    assert.deepEqual(await kinds(event.uid), ['REMINDER', 'UPCOMING']);
  });

  it('qualifies nothing for an event that ended 1 ms before now', async () => {
    await setPushConfigs(db, defaultConfig);
    const event = await eventWithGuests(db, 3, { startDate: at(-HOUR), endDate: at(-1) });
    assert.deepEqual(await refreshPushCandidates(deps, [event.uid]), { upserted: 0, deleted: 0 });
    assert.deepEqual(await kinds(event.uid), []);
  });

  it('qualifies UPCOMING when endDate is exactly upcomingEnd, and not 1 ms past it', async () => {
    await setPushConfigs(db, defaultConfig);
    const atEnd = await eventWithGuests(db, 3, { startDate: at(6 * DAY), endDate: UPCOMING_END });
    const past = await eventWithGuests(db, 3, { startDate: at(6 * DAY), endDate: at(7 * DAY + 1) });
    assert.deepEqual(await refreshPushCandidates(deps, [atEnd.uid, past.uid]), { upserted: 1, deleted: 0 });
    assert.deepEqual(await kinds(atEnd.uid), ['UPCOMING']);
    assert.deepEqual(await kinds(past.uid), []);
  });

  it('qualifies REMINDER when startDate is exactly reminderEnd, and not 1 ms past it', async () => {
    await setPushConfigs(db, defaultConfig);
    const atEnd = await eventWithGuests(db, 3, { startDate: REMINDER_END, endDate: at(DAY + 2 * HOUR) });
    const past = await eventWithGuests(db, 3, { startDate: at(DAY + 1), endDate: at(DAY + 2 * HOUR) });
    await refreshPushCandidates(deps, [atEnd.uid, past.uid]);
    assert.deepEqual(await kinds(atEnd.uid), ['REMINDER', 'UPCOMING']);
    assert.deepEqual(await kinds(past.uid), ['UPCOMING']);
  });

  it('gives an event that started 1 ms ago UPCOMING only: REMINDER needs startDate >= now', async () => {
    await setPushConfigs(db, defaultConfig);
    const event = await eventWithGuests(db, 3, { startDate: at(-1), endDate: at(HOUR) });
    await refreshPushCandidates(deps, [event.uid]);
    assert.deepEqual(await kinds(event.uid), ['UPCOMING']);
  });

  it('gives REMINDER to an event starting soon that ends after the upcoming window', async () => {
    await setPushConfigs(db, defaultConfig);
    const event = await eventWithGuests(db, 3, { startDate: at(HOUR), endDate: at(8 * DAY) });
    await refreshPushCandidates(deps, [event.uid]);
    assert.deepEqual(await kinds(event.uid), ['REMINDER']);
  });

  it('needs attendeeCount >= minAttendeesPerEvent: min-1 guests qualify nothing, min guests qualify', async () => {
    await setPushConfigs(db, defaultConfig);
    const below = await eventWithGuests(db, 2, { startDate: at(HOUR), endDate: at(2 * HOUR) });
    const enough = await eventWithGuests(db, 3, { startDate: at(HOUR), endDate: at(2 * HOUR) });
    assert.deepEqual(await refreshPushCandidates(deps, [below.uid, enough.uid]), { upserted: 2, deleted: 0 });
    assert.deepEqual(await kinds(below.uid), []);
    const rows = await candidatesOf(db, enough.uid);
    assert.deepEqual(
      rows.map((r) => r.attendeeCount),
      [3, 3],
    );
  });

  it('stores a new row with its own uid, the event dates and location, and updatedAt = now', async () => {
    await setPushConfigs(db, defaultConfig);
    const event = await eventWithGuests(db, 4, { startDate: at(HOUR), endDate: at(3 * HOUR) });
    await refreshPushCandidates(deps, [event.uid, event.uid]);
    const rows = await candidatesOf(db, event.uid);
    assert.equal(rows.length, 2);
    assert.notEqual(rows[0]!.uid, rows[1]!.uid);
    for (const row of rows) {
      assert.match(row.uid, /^[a-z0-9]{20,}$/);
      assert.equal(row.gatheringUid, event.locationUid);
      assert.deepEqual([row.eventStartDate, row.eventEndDate], [event.startDate, event.endDate]);
      assert.equal(row.attendeeCount, 4);
      assert.equal(row.isSuppressed, false);
      assert.equal(row.processedAt, null);
      assert.deepEqual(row.updatedAt, NOW);
    }
  });

  it('qualifies nothing for an event without a location', async () => {
    await setPushConfigs(db, defaultConfig);
    const elsewhere = await seedEvent(db);
    const event = await seedEvent(db, { locationUid: null, startDate: at(HOUR), endDate: at(2 * HOUR) });
    for (let i = 0; i < 3; i++) {
      const member = await seedMember(db);
      await seedGuest(db, { eventUid: event.uid, locationUid: elsewhere.locationUid!, memberUid: member.uid });
    }
    assert.deepEqual(await refreshPushCandidates(deps, [event.uid]), { upserted: 0, deleted: 0 });
  });

  it('on upsert, resets processedAt and isSuppressed and refreshes count, dates and location, keeping uid', async () => {
    await setPushConfigs(db, defaultConfig);
    const event = await eventWithGuests(db, 5, { startDate: at(2 * DAY), endDate: at(3 * DAY) });
    const old = await seedCandidate(db, {
      ruleKind: 'UPCOMING',
      gatheringUid: 'old-location',
      eventUid: event.uid,
      eventStartDate: at(4 * DAY),
      eventEndDate: at(5 * DAY),
      attendeeCount: 1,
      isSuppressed: true,
      processedAt: at(-DAY),
      createdAt: at(-2 * DAY),
      updatedAt: at(-DAY),
    });
    assert.deepEqual(await refreshPushCandidates(deps, [event.uid]), { upserted: 1, deleted: 0 });
    const [row] = await candidatesOf(db, event.uid);
    assert.deepEqual(row, {
      ...old,
      gatheringUid: event.locationUid,
      eventStartDate: event.startDate,
      eventEndDate: event.endDate,
      attendeeCount: 5,
      isSuppressed: false,
      processedAt: null,
      updatedAt: NOW,
    });
  });

  it('deletes the rows of an event that no longer qualifies, and only those', async () => {
    await setPushConfigs(db, defaultConfig);
    const gone = await eventWithGuests(db, 3, { startDate: at(8 * DAY), endDate: at(9 * DAY) });
    const other = await eventWithGuests(db, 3, { startDate: at(8 * DAY), endDate: at(9 * DAY) });
    for (const e of [gone, other]) {
      for (const ruleKind of ['UPCOMING', 'REMINDER'] as const) {
        await seedCandidate(db, {
          ruleKind,
          gatheringUid: e.locationUid!,
          eventUid: e.uid,
          eventStartDate: at(HOUR),
          eventEndDate: at(2 * HOUR),
        });
      }
    }
    assert.deepEqual(await refreshPushCandidates(deps, [gone.uid]), { upserted: 0, deleted: 2 });
    assert.deepEqual(await kinds(gone.uid), []);
    assert.deepEqual(await kinds(other.uid), ['REMINDER', 'UPCOMING']);
  });

  it('deletes the REMINDER row alone when the event keeps UPCOMING only', async () => {
    await setPushConfigs(db, defaultConfig);
    const event = await eventWithGuests(db, 3, { startDate: at(2 * DAY), endDate: at(3 * DAY) });
    await seedCandidate(db, {
      ruleKind: 'REMINDER',
      gatheringUid: event.locationUid!,
      eventUid: event.uid,
      eventStartDate: at(HOUR),
      eventEndDate: at(2 * HOUR),
    });
    assert.deepEqual(await refreshPushCandidates(deps, [event.uid]), { upserted: 1, deleted: 1 });
    assert.deepEqual(await kinds(event.uid), ['UPCOMING']);
  });

  it('deletes the rows of a deleted event', async () => {
    await setPushConfigs(db, defaultConfig);
    const event = await eventWithGuests(db, 3, { startDate: at(HOUR), endDate: at(2 * HOUR), isDeleted: true });
    await seedCandidate(db, {
      ruleKind: 'UPCOMING',
      gatheringUid: event.locationUid!,
      eventUid: event.uid,
      eventStartDate: event.startDate,
      eventEndDate: event.endDate,
    });
    assert.deepEqual(await refreshPushCandidates(deps, [event.uid]), { upserted: 0, deleted: 1 });
    assert.deepEqual(await kinds(event.uid), []);
  });

  it('does nothing and returns null without an active config', async () => {
    await setPushConfigs(db, { ...defaultConfig, isActive: false });
    const event = await eventWithGuests(db, 3, { startDate: at(HOUR), endDate: at(2 * HOUR) });
    await seedCandidate(db, {
      ruleKind: 'REMINDER',
      gatheringUid: event.locationUid!,
      eventUid: event.uid,
      eventStartDate: at(9 * DAY),
      eventEndDate: at(10 * DAY),
      processedAt: at(-HOUR),
    });
    const before = await candidatesOf(db, event.uid);
    assert.equal(await refreshPushCandidates(deps, [event.uid]), null);
    assert.deepEqual(await candidatesOf(db, event.uid), before);

    await setPushConfigs(db);
    assert.equal(await refreshPushCandidates(deps, [event.uid]), null);
    assert.deepEqual(await candidatesOf(db, event.uid), before);
  });

  it('does nothing and returns null when the active config has enabled = false', async () => {
    await setPushConfigs(db, { ...defaultConfig, enabled: false });
    const event = await eventWithGuests(db, 3, { startDate: at(HOUR), endDate: at(2 * HOUR) });
    await seedCandidate(db, {
      ruleKind: 'REMINDER',
      gatheringUid: event.locationUid!,
      eventUid: event.uid,
      eventStartDate: at(9 * DAY),
      eventEndDate: at(10 * DAY),
    });
    const before = await candidatesOf(db, event.uid);
    assert.equal(await refreshPushCandidates(deps, [event.uid]), null);
    assert.deepEqual(await candidatesOf(db, event.uid), before);
  });

  it('follows the active config with the newest updatedAt', async () => {
    const event = await eventWithGuests(db, 3, { startDate: at(HOUR), endDate: at(2 * HOUR) });
    // Oldest first: an active lenient one, the newest active strict one, a newer inactive one.
    await setPushConfigs(
      db,
      { ...defaultConfig, minAttendeesPerEvent: 1 },
      { ...defaultConfig, minAttendeesPerEvent: 10 },
      { ...defaultConfig, minAttendeesPerEvent: 1, isActive: false },
    );
    await refreshPushCandidates(deps, [event.uid]);
    assert.deepEqual(await kinds(event.uid), []);

    await setPushConfigs(
      db,
      { ...defaultConfig, minAttendeesPerEvent: 10 },
      { ...defaultConfig, minAttendeesPerEvent: 3, enabled: true },
    );
    await refreshPushCandidates(deps, [event.uid]);
    assert.deepEqual(await kinds(event.uid), ['REMINDER', 'UPCOMING']);

    // A newer active but disabled config turns the whole step off.
    await setPushConfigs(db, { ...defaultConfig }, { ...defaultConfig, enabled: false });
    assert.equal(await refreshPushCandidates(deps, [event.uid]), null);
  });

  it('uses the config window lengths', async () => {
    await setPushConfigs(db, { minAttendeesPerEvent: 1, upcomingWindowDays: 2, reminderDaysBefore: 3 });
    const event = await eventWithGuests(db, 1, { startDate: at(3 * DAY), endDate: at(3 * DAY + HOUR) });
    await refreshPushCandidates(deps, [event.uid]);
    assert.deepEqual(await kinds(event.uid), ['REMINDER']);
  });

  it('returns zero counts for no events', async () => {
    await setPushConfigs(db, defaultConfig);
    assert.deepEqual(await refreshPushCandidates(deps, []), { upserted: 0, deleted: 0 });
  });
});

describe('refreshPushCandidates without a clock', () => {
  it('judges the windows from the current time and stamps rows with it', async () => {
    await setPushConfigs(db, defaultConfig);
    const soon = Date.now() + 2 * DAY;
    const event = await eventWithGuests(db, 3, { startDate: new Date(soon), endDate: new Date(soon + HOUR) });
    const before = Date.now();
    assert.deepEqual(await refreshPushCandidates({ db }, [event.uid]), { upserted: 1, deleted: 0 });
    const [row] = await candidatesOf(db, event.uid);
    assert.equal(row?.ruleKind, 'UPCOMING');
    assert.ok(row!.updatedAt.getTime() >= before - 1000, 'stamped now');
  });
});
