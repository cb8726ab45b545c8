import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import { createDatabase } from '../../src/db/client.ts';
import { newUid } from '../../src/db/ids.ts';
import * as s from '../../src/db/schema.ts';
import { runPostSyncPush } from '../../src/sync/post-sync.ts';
import { refreshSentNotifications } from '../../src/sync/push-notifications.ts';
import { loadSentNotifications, writeNotifications } from '../../src/sync/push-queries.ts';
import { createTestDatabase } from '../support/db.ts';
import { seedEvent, seedGuest, seedLocation, seedMember } from '../support/seed.ts';
import {
  candidatesOf,
  notification,
  seedApproval,
  seedCandidate,
  seedImage,
  seedNotification,
  setPushConfigs,
} from '../support/seed-push.ts';

const database = await createTestDatabase({ label: 'push_notifications' });
const { db } = database;

const NOW = new Date('2026-03-10T12:00:00.000Z');
const deps = { db, now: () => NOW };
const config = { minAttendeesPerEvent: 3, upcomingWindowDays: 7, reminderDaysBefore: 1 };
const d = (iso: string) => new Date(iso);
const SENT = {
  isSent: true,
  sentAt: d('2026-03-09T08:00:00Z'),
  createdAt: d('2026-03-08T08:00:00Z'),
  updatedAt: d('2026-03-09T08:00:00Z'),
};

type Guest = { eventUid: string | null; reason?: string | null; topics?: string[] | null };

/** A member and their guest entries at a location. */
async function attendee(
  locationUid: string,
  name: string,
  guests: Guest[],
  member: Partial<typeof s.member.$inferInsert> = {},
) {
  const row = await seedMember(db, { name, ...member });
  for (const guest of guests) await seedGuest(db, { locationUid, memberUid: row.uid, ...guest });
  return row;
}

function candidate(
  ruleKind: 'UPCOMING' | 'REMINDER',
  event: typeof s.plEvent.$inferSelect,
  values: Partial<typeof s.irlGatheringPushCandidate.$inferInsert> = {},
) {
  return seedCandidate(db, {
    ruleKind,
    gatheringUid: event.locationUid!,
    eventUid: event.uid,
    eventStartDate: event.startDate,
    eventEndDate: event.endDate,
    ...values,
  });
}

function sentMetadata(gatheringUid: string, values: Record<string, unknown> = {}) {
  return {
    version: 1,
    gatheringUid,
    events: { total: 1 },
    attendees: { total: 2, topAttendees: [] },
    stale: true,
    ...values,
  };
}

describe('refreshSentNotifications, with candidates in the window', () => {
  const ids: Record<string, string> = {};
  let result: { updated: number };
  let before_: Map<string, typeof s.pushNotification.$inferSelect>;

  before(async () => {
    await setPushConfigs(db, config);
    const location = await seedLocation(db, {
      location: 'Berlin',
      description: 'Where builders meet.',
      country: 'DE',
      timezone: 'Europe/Berlin',
      latitude: '52.52',
      longitude: '13.405',
      flag: '🇩🇪',
      icon: 'https://img.example/icon.png',
      resources: ['{"type":"website","url":"https://berlin.example"}', 'plain text', { kind: 'object' }],
    });
    const L = location.uid;
    ids.L = L;
    const logo = await seedImage(db, 'https://img.example/kickoff.png');
    const e1 = await seedEvent(db, {
      locationUid: L,
      name: 'Kickoff',
      slugURL: `kickoff-${L}`,
      startDate: d('2026-03-11T09:00:00Z'),
      endDate: d('2026-03-11T18:00:00Z'),
      logoUid: logo.uid,
      websiteURL: 'https://kickoff.example',
      telegramId: '@kickoff',
      resources: ['{"label":"Agenda"}', 'oops'],
    });
    const e2 = await seedEvent(db, {
      locationUid: L,
      name: 'Hack day',
      slugURL: `hack-${L}`,
      type: null,
      startDate: d('2026-03-13T09:00:00Z'),
      endDate: d('2026-03-14T18:00:00Z'),
    });
    const e3 = await seedEvent(db, {
      locationUid: L,
      type: 'INVITE_ONLY',
      startDate: d('2026-03-12T19:00:00Z'),
      endDate: d('2026-03-12T22:00:00Z'),
    });
    const e4 = await seedEvent(db, {
      locationUid: L,
      isDeleted: true,
      startDate: d('2026-03-12T09:00:00Z'),
      endDate: d('2026-03-13T09:00:00Z'),
    });
    const e5 = await seedEvent(db, {
      locationUid: L,
      startDate: d('2026-03-01T09:00:00Z'),
      endDate: d('2026-03-02T09:00:00Z'),
    });
    const e6 = await seedEvent(db, {
      locationUid: L,
      startDate: d('2026-04-20T09:00:00Z'),
      endDate: d('2026-04-22T18:00:00Z'),
    });
    Object.assign(ids, { e1: e1.uid, e2: e2.uid, e1slug: e1.slugURL, e2slug: e2.slugURL });

    // Inserted out of order: items follow startDate.
    await candidate('UPCOMING', e2, { attendeeCount: 5, processedAt: d('2026-03-09T00:00:00Z') });
    await candidate('UPCOMING', e1, { attendeeCount: 7 });
    await candidate('UPCOMING', e3, { attendeeCount: 9, isSuppressed: true });
    await candidate('UPCOMING', e4, { attendeeCount: 9 }); // its event is deleted: no item
    await candidate('UPCOMING', e6, { attendeeCount: 9 }); // ends after the upcoming window
    await candidate('REMINDER', e1, { attendeeCount: 7 });
    await candidate('REMINDER', e2, { attendeeCount: 5 }); // starts after the reminder window

    const image = await seedImage(db, 'https://img.example/alice.png');
    const full = { reason: 'Meet builders', topics: ['AI', 'Crypto'] };
    ids.alice = (
      await attendee(L, 'Alice', [{ eventUid: e1.uid, ...full }, { eventUid: e6.uid }], { imageUid: image.uid })
    ).uid;
    ids.zed = (await attendee(L, 'Zed', [{ eventUid: e2.uid, ...full }])).uid;
    ids.bob = (await attendee(L, 'Bob', [{ eventUid: e1.uid, reason: 'Hacking' }, { eventUid: e2.uid }])).uid;
    ids.yara = (await attendee(L, 'Yara', [{ eventUid: null, topics: ['ZK'] }, { eventUid: e1.uid }])).uid;
    ids.carol = (await attendee(L, 'Carol', [{ eventUid: e2.uid }, { eventUid: e2.uid }])).uid;
    ids.dave = (await attendee(L, 'Dave', [{ eventUid: null }])).uid;
    const ivan = await attendee(L, 'Ivan', [{ eventUid: e6.uid }]);
    await seedApproval(db, ivan.uid, 'APPROVED');
    const mia = await attendee(L, 'Mia', [{ eventUid: e1.uid, reason: '   ', topics: [] }]);
    await seedApproval(db, mia.uid, 'PENDING');
    // Left out, however complete their entries.
    const eve = await attendee(L, 'Aaron Rejected', [{ eventUid: e1.uid, ...full }]);
    await seedApproval(db, eve.uid, 'REJECTED');
    await attendee(L, 'Abe Deleted', [{ eventUid: e1.uid, ...full }], { deletedAt: d('2026-03-01T00:00:00Z') });
    await attendee(L, 'Ada InviteOnly', [{ eventUid: e3.uid, ...full }]);
    await attendee(L, 'Al Ended', [{ eventUid: e5.uid, ...full }]);
    await attendee(L, 'Ali DeletedEvent', [{ eventUid: e4.uid, ...full }]);
    const elsewhere = await seedLocation(db);
    await attendee(elsewhere.uid, 'Amy Elsewhere', [{ eventUid: null, ...full }]);

    ids.up = (
      await seedNotification(db, { ...SENT, link: '/irl/berlin', metadata: sentMetadata(L, { ruleKind: 'UPCOMING' }) })
    ).uid;
    ids.rem = (
      await seedNotification(db, {
        ...SENT,
        link: '/irl/berlin?r',
        metadata: sentMetadata(L, { ruleKind: 'REMINDER' }),
      })
    ).uid;
    ids.noKind = (await seedNotification(db, { ...SENT, metadata: sentMetadata(L) })).uid;
    ids.v2 = (
      await seedNotification(db, { ...SENT, metadata: sentMetadata(L, { ruleKind: 'UPCOMING', version: 2 }) })
    ).uid;
    ids.vText = (
      await seedNotification(db, { ...SENT, metadata: sentMetadata(L, { ruleKind: 'UPCOMING', version: 'v1' }) })
    ).uid;
    ids.otherLocation = (
      await seedNotification(db, { ...SENT, metadata: sentMetadata(elsewhere.uid, { ruleKind: 'UPCOMING' }) })
    ).uid;
    // The live enum has more categories than this schema declares.
    await db.execute(sql`ALTER TYPE "PushNotificationCategory" ADD VALUE IF NOT EXISTS 'EVENT'`);
    ids.otherCategory = newUid();
    await db.execute(sql`INSERT INTO "PushNotification" ("uid", "category", "title", "metadata", "updatedAt")
      VALUES (${ids.otherCategory}, 'EVENT', 'other', ${JSON.stringify(sentMetadata(L, { ruleKind: 'UPCOMING' }))}::jsonb, now())`);

    const all = await db.select().from(s.pushNotification);
    before_ = new Map(all.map((row) => [row.uid, row]));
    result = await refreshSentNotifications(deps, [L, L]);
  });

  const topAttendees = () => [
    { memberUid: ids.alice, imageUrl: 'https://img.example/alice.png', displayName: 'Alice', eventsCount: 2 },
    { memberUid: ids.zed, imageUrl: null, displayName: 'Zed', eventsCount: 1 },
    { memberUid: ids.bob, imageUrl: null, displayName: 'Bob', eventsCount: 2 },
    { memberUid: ids.yara, imageUrl: null, displayName: 'Yara', eventsCount: 1 },
    { memberUid: ids.carol, imageUrl: null, displayName: 'Carol', eventsCount: 1 },
    { memberUid: ids.dave, imageUrl: null, displayName: 'Dave', eventsCount: 1 },
  ];
  const location = () => ({
    id: ids.L,
    name: 'Berlin',
    description: 'Where builders meet.',
    country: 'DE',
    timezone: 'Europe/Berlin',
    latitude: '52.52',
    longitude: '13.405',
    flag: '🇩🇪',
    icon: 'https://img.example/icon.png',
    resources: [{ type: 'website', url: 'https://berlin.example' }, { raw: 'plain text' }, { kind: 'object' }],
  });
  const e1Item = () => ({
    uid: ids.e1,
    slug: ids.e1slug,
    name: 'Kickoff',
    startDate: '2026-03-11T09:00:00.000Z',
    endDate: '2026-03-11T18:00:00.000Z',
    attendeeCount: 7,
    logoUrl: 'https://img.example/kickoff.png',
    websiteURL: 'https://kickoff.example',
    telegramId: '@kickoff',
    resources: [{ label: 'Agenda' }, { raw: 'oops' }],
  });

  it('counts the notifications it rewrote', () => {
    assert.deepEqual(result, { updated: 2 });
  });

  it('rebuilds an UPCOMING notification from its candidates, field by field', async () => {
    const row = await notification(db, ids.up!);
    assert.equal(row.title, '4 events happening in Berlin starting 11th Mar');
    assert.equal(row.description, 'Where builders meet.');
    const metadata = row.metadata as Record<string, unknown>;
    assert.deepEqual(Object.keys(metadata).sort(), [
      'attendees',
      'events',
      'gatheringUid',
      'location',
      'ruleKind',
      'ui',
      'version',
    ]);
    assert.equal(metadata.version, 1);
    assert.equal(metadata.gatheringUid, ids.L);
    assert.equal(metadata.ruleKind, 'UPCOMING');
    assert.deepEqual(metadata.location, location());
    assert.deepEqual(metadata.events, {
      total: 4,
      eventUids: [ids.e1, ids.e2],
      dates: { start: '2026-03-11T09:00:00.000Z', end: '2026-03-14T18:00:00.000Z' },
      items: [
        e1Item(),
        {
          uid: ids.e2,
          slug: ids.e2slug,
          name: 'Hack day',
          startDate: '2026-03-13T09:00:00.000Z',
          endDate: '2026-03-14T18:00:00.000Z',
          attendeeCount: 5,
          logoUrl: null,
          websiteURL: null,
          telegramId: null,
          resources: [],
        },
      ],
    });
    assert.deepEqual(metadata.attendees, { total: 8, topAttendees: topAttendees() });
    assert.deepEqual(metadata.ui, {
      locationUid: ids.L,
      eventSlugs: [ids.e1slug, ids.e2slug],
      startsLabel: '11th Mar',
      daysToStart: 1,
    });
  });

  it('rebuilds a REMINDER notification from the candidates in the reminder window', async () => {
    const row = await notification(db, ids.rem!);
    assert.equal(row.title, 'Reminder: IRL Gathering in Berlin starts in 1 days.');
    assert.equal(row.description, 'Where builders meet.');
    assert.deepEqual(row.metadata, {
      version: 1,
      gatheringUid: ids.L,
      ruleKind: 'REMINDER',
      location: location(),
      events: {
        total: 4,
        eventUids: [ids.e1],
        dates: { start: '2026-03-11T09:00:00.000Z', end: '2026-03-11T18:00:00.000Z' },
        items: [e1Item()],
      },
      attendees: { total: 8, topAttendees: topAttendees() },
      ui: { locationUid: ids.L, eventSlugs: [ids.e1slug], startsLabel: '11th Mar', daysToStart: 1 },
    });
  });

  it('leaves link, isSent, sentAt, createdAt and category alone and sets updatedAt', async () => {
    for (const uid of [ids.up!, ids.rem!]) {
      const row = await notification(db, uid);
      const old = before_.get(uid)!;
      assert.deepEqual(
        {
          link: row.link,
          isSent: row.isSent,
          sentAt: row.sentAt,
          createdAt: row.createdAt,
          category: row.category,
          id: row.id,
        },
        {
          link: old.link,
          isSent: true,
          sentAt: old.sentAt,
          createdAt: old.createdAt,
          category: old.category,
          id: old.id,
        },
      );
      assert.deepEqual(row.updatedAt, NOW);
    }
  });

  it('skips metadata without ruleKind, other versions, other gatherings and other categories', async () => {
    for (const key of ['noKind', 'v2', 'vText', 'otherLocation', 'otherCategory']) {
      assert.deepEqual(await notification(db, ids[key]!), before_.get(ids[key]!), key);
    }
  });

  it('touches no candidate', async () => {
    const [row] = await candidatesOf(db, ids.e2!);
    assert.deepEqual(row!.processedAt, d('2026-03-09T00:00:00Z'));
  });
});

describe('refreshSentNotifications, without candidates in the window', () => {
  it('keeps the metadata and refreshes only attendees and the ui start fields', async () => {
    await setPushConfigs(db, config);
    const L = (await seedLocation(db, { location: 'Lisbon', description: null })).uid;
    const event = await seedEvent(db, {
      locationUid: L,
      startDate: d('2026-03-12T09:00:00Z'),
      endDate: d('2026-03-12T20:00:00Z'),
    });
    const late = await seedEvent(db, {
      locationUid: L,
      startDate: d('2026-03-30T09:00:00Z'),
      endDate: d('2026-04-01T09:00:00Z'),
    });
    await candidate('UPCOMING', late); // ends after the window
    await candidate('UPCOMING', event, { isSuppressed: true });
    const kim = await attendee(L, 'Kim', [{ eventUid: event.uid, reason: 'Talks', topics: ['DeSci'] }]);
    const lee = await attendee(L, 'Lee', [{ eventUid: late.uid }]);
    const existing = {
      version: 1,
      gatheringUid: L,
      ruleKind: 'UPCOMING',
      location: { id: L, name: 'Old Lisbon', description: null, resources: [] },
      events: {
        total: 3,
        eventUids: ['x'],
        dates: { start: '2026-03-15T10:00:00.000Z', end: '2026-03-16T10:00:00.000Z' },
        items: [{ uid: 'x' }],
      },
      attendees: { total: 99, topAttendees: [{ memberUid: 'gone' }] },
      ui: { locationUid: 'stale', eventSlugs: ['x-slug'], startsLabel: 'stale', daysToStart: 42 },
      extra: { kept: true },
    };
    const up = await seedNotification(db, { ...SENT, link: '/irl/lisbon', metadata: existing });
    const rem = await seedNotification(db, { ...SENT, metadata: { ...existing, ruleKind: 'REMINDER' } });

    assert.deepEqual(await refreshSentNotifications(deps, [L]), { updated: 2 });

    const attendees = {
      total: 2,
      topAttendees: [
        { memberUid: kim.uid, imageUrl: null, displayName: 'Kim', eventsCount: 1 },
        { memberUid: lee.uid, imageUrl: null, displayName: 'Lee', eventsCount: 1 },
      ],
    };
    const ui = { locationUid: L, eventSlugs: ['x-slug'], startsLabel: '15th Mar', daysToStart: 5 };
    const row = await notification(db, up.uid);
    assert.deepEqual(row.metadata, { ...existing, attendees, ui });
    assert.equal(row.title, '3 events happening in Old Lisbon starting 15th Mar');
    assert.equal(row.description, '3 upcoming event(s) • 2 attendee(s)');
    assert.deepEqual([row.link, row.isSent, row.sentAt, row.createdAt], [up.link, true, up.sentAt, up.createdAt]);
    assert.deepEqual(row.updatedAt, NOW);

    const reminder = await notification(db, rem.uid);
    assert.deepEqual(reminder.metadata, { ...existing, ruleKind: 'REMINDER', attendees, ui });
    assert.equal(reminder.title, 'Reminder: IRL Gathering in Old Lisbon starts in 5 days.');
  });
});

describe('refreshSentNotifications, candidate windows', () => {
  it('takes UPCOMING candidates ending in [now, upcomingEnd] and REMINDER ones starting in [now, reminderEnd]', async () => {
    await setPushConfigs(db, config);
    const L = (await seedLocation(db, { location: 'Paris' })).uid;
    const DAY = 86_400_000;
    const at = (ms: number) => new Date(NOW.getTime() + ms);
    const event = async (name: string, startDate: Date, endDate: Date) =>
      seedEvent(db, { locationUid: L, name, startDate, endDate });
    const endsNow = await event('ends-now', at(-DAY), NOW);
    const endsAtUpcomingEnd = await event('ends-at-upcoming-end', at(6 * DAY), at(7 * DAY));
    const endsPast = await event('ends-past', at(6 * DAY), at(7 * DAY + 1));
    const endedJustNow = await event('ended', at(-DAY), at(-1));
    for (const e of [endsNow, endsAtUpcomingEnd, endsPast, endedJustNow]) await candidate('UPCOMING', e);
    const startsNow = await event('starts-now', NOW, at(DAY));
    const startsAtReminderEnd = await event('starts-at-reminder-end', at(DAY), at(2 * DAY));
    const startsPast = await event('starts-past', at(DAY + 1), at(2 * DAY));
    const startedJustNow = await event('started', at(-1), at(DAY));
    for (const e of [startsNow, startsAtReminderEnd, startsPast, startedJustNow]) await candidate('REMINDER', e);
    // Who's going counts guests of events ending at now or later, without upper bound.
    await attendee(L, 'Guest of ends-now', [{ eventUid: endsNow.uid }]);
    await attendee(L, 'Guest of ended', [{ eventUid: endedJustNow.uid }]);
    await attendee(L, 'Guest of ends-past', [{ eventUid: endsPast.uid }]);
    const up = await seedNotification(db, { ...SENT, metadata: sentMetadata(L, { ruleKind: 'UPCOMING' }) });
    const rem = await seedNotification(db, { ...SENT, metadata: sentMetadata(L, { ruleKind: 'REMINDER' }) });

    await refreshSentNotifications(deps, [L]);
    const names = async (uid: string) =>
      ((await notification(db, uid)).metadata as { events: { items: Array<{ name: string }> } }).events.items.map(
        (i) => i.name,
      );
    assert.deepEqual(await names(up.uid), ['ends-now', 'ends-at-upcoming-end']);
    assert.deepEqual(await names(rem.uid), ['starts-now', 'starts-at-reminder-end']);
    // events.total: every event at the location not ended yet, in a window or not.
    const metadata = (await notification(db, up.uid)).metadata as {
      events: { total: number };
      attendees: { topAttendees: Array<{ displayName: string }> };
    };
    assert.equal(metadata.events.total, 7);
    assert.deepEqual(
      metadata.attendees.topAttendees.map((a) => a.displayName),
      ['Guest of ends-now', 'Guest of ends-past'],
    );
  });
});

describe('writeNotifications', () => {
  it('leaves a notification the directory rewrote since it was read', async () => {
    const L = (await seedLocation(db)).uid;
    const sent = await seedNotification(db, { ...SENT, metadata: sentMetadata(L, { ruleKind: 'UPCOMING' }) });
    const [read] = await loadSentNotifications(db, [L]);
    await db
      .update(s.pushNotification)
      .set({ metadata: sentMetadata(L, { ruleKind: 'UPCOMING', rewritten: true }) })
      .where(eq(s.pushNotification.uid, sent.uid));
    const update = { uid: sent.uid, title: 't', description: 'd', metadata: {}, seenMetadataText: read!.metadataText };
    assert.deepEqual(await writeNotifications(db, [update], NOW), []);
    assert.equal((await notification(db, sent.uid)).title, 'old title');

    const [fresh] = await loadSentNotifications(db, [L]);
    assert.deepEqual(await writeNotifications(db, [{ ...update, seenMetadataText: fresh!.metadataText }], NOW), [
      sent.uid,
    ]);
    assert.equal((await notification(db, sent.uid)).title, 't');
  });
});

describe('refreshSentNotifications, titles and descriptions', () => {
  it('says "1 event" and counts people when the location has a blank description', async () => {
    await setPushConfigs(db, config);
    const L = (await seedLocation(db, { location: 'Porto', description: '   ' })).uid;
    const event = await seedEvent(db, {
      locationUid: L,
      startDate: d('2026-03-12T09:00:00Z'),
      endDate: d('2026-03-12T20:00:00Z'),
    });
    await candidate('UPCOMING', event, { attendeeCount: 3 });
    await attendee(L, 'Pat', [{ eventUid: event.uid }]);
    const sent = await seedNotification(db, { ...SENT, metadata: sentMetadata(L, { ruleKind: 'UPCOMING' }) });
    await refreshSentNotifications(deps, [L]);
    const row = await notification(db, sent.uid);
    assert.equal(row.title, '1 event happening in Porto starting 12th Mar');
    assert.equal(row.description, '1 upcoming event(s) • 1 attendee(s)');
    assert.equal((row.metadata as { location: { description: string } }).location.description, '   ');
  });
});

describe('refreshSentNotifications, config', () => {
  it('does nothing without an active, enabled config', async () => {
    const L = (await seedLocation(db)).uid;
    const sent = await seedNotification(db, { ...SENT, metadata: sentMetadata(L, { ruleKind: 'UPCOMING' }) });
    for (const configs of [[], [{ ...config, isActive: false }], [{ ...config, enabled: false }]]) {
      await setPushConfigs(db, ...configs);
      assert.deepEqual(await refreshSentNotifications(deps, [L]), { updated: 0 });
      assert.deepEqual(await notification(db, sent.uid), sent);
    }
  });
});

describe('runPostSyncPush', () => {
  let statements = 0;
  const counting = createDatabase({ url: database.url, poolMax: 2, onQuery: () => statements++ });
  after(() => counting.close());

  async function gathering(guests: number) {
    const L = (await seedLocation(db)).uid;
    const event = await seedEvent(db, {
      locationUid: L,
      startDate: d('2026-03-11T09:00:00Z'),
      endDate: d('2026-03-11T18:00:00Z'),
    });
    for (let i = 0; i < guests; i++) await attendee(L, `Guest ${i}`, [{ eventUid: event.uid }]);
    const sent = await seedNotification(db, { ...SENT, metadata: sentMetadata(L, { ruleKind: 'UPCOMING' }) });
    return { eventUid: event.uid, locationUid: L, notificationUid: sent.uid };
  }

  it('refreshes the candidates, then the notifications of their gatherings', async () => {
    await setPushConfigs(db, config);
    const g = await gathering(3);
    const result = await runPostSyncPush(deps, [g]);
    assert.deepEqual(result, { candidates: { upserted: 2, deleted: 0 }, notifications: { updated: 1 } });
    const row = await notification(db, g.notificationUid);
    assert.equal(row.title, `1 event happening in Gathering ${g.locationUid} starting 11th Mar`);
    const metadata = row.metadata as {
      events: { items: Array<{ attendeeCount: number }> };
      attendees: { total: number };
    };
    assert.equal(metadata.events.items[0]!.attendeeCount, 3);
    assert.equal(metadata.attendees.total, 3);
  });

  it('does nothing at all when push is disabled', async () => {
    await setPushConfigs(db, { ...config, enabled: false });
    const g = await gathering(3);
    const before_ = await notification(db, g.notificationUid);
    assert.deepEqual(await runPostSyncPush(deps, [g]), { candidates: null, notifications: null });
    assert.deepEqual(await candidatesOf(db, g.eventUid), []);
    assert.deepEqual(await notification(db, g.notificationUid), before_);
  });

  it('issues as many statements for twenty events at twenty gatherings as for one', async () => {
    await setPushConfigs(db, config);
    const one = [await gathering(3)];
    const twenty = [];
    for (let i = 0; i < 20; i++) twenty.push(await gathering(i % 2 === 0 ? 3 : 1));
    const countFor = async (events: typeof one) => {
      statements = 0;
      await runPostSyncPush({ db: counting.db, now: () => NOW }, events);
      return statements;
    };
    // postgres.js looks up types on each new connection: open both before counting.
    await countFor(twenty);
    const forOne = await countFor(one);
    assert.equal(await countFor(twenty), forOne);
    // BEGIN naming its isolation (read committed: transaction.ts), the gathering locks,
    // config, candidates, config, notifications, four reads, the write, COMMIT.
    assert.equal(forOne, 12);
    const updated = await db
      .select()
      .from(s.pushNotification)
      .where(eq(s.pushNotification.uid, twenty[0]!.notificationUid));
    assert.deepEqual(updated[0]!.updatedAt, NOW);
  });
});
