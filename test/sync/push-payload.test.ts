import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildDescription,
  buildPayloadV1,
  buildTitle,
  daysToStart,
  type EventItemRow,
  notificationText,
  parseResources,
  refreshPayloadV1,
  startsLabel,
} from '../../src/sync/push-payload.ts';

const NOW = new Date('2026-03-10T12:00:00.000Z');
const DAY = 86_400_000;

describe('startsLabel', () => {
  it('writes the UTC day as an ordinal and the short month', () => {
    const cases: Array<[string, string]> = [
      ['2026-03-03T10:00:00Z', '3rd Mar'],
      ['2026-04-11T10:00:00Z', '11th Apr'],
      ['2026-12-22T10:00:00Z', '22nd Dec'],
      ['2026-01-01T00:00:00Z', '1st Jan'],
      ['2026-02-02T00:00:00Z', '2nd Feb'],
      ['2026-05-12T00:00:00Z', '12th May'],
      ['2026-06-13T00:00:00Z', '13th Jun'],
      ['2026-07-21T00:00:00Z', '21st Jul'],
      ['2026-08-23T00:00:00Z', '23rd Aug'],
      ['2026-09-30T00:00:00Z', '30th Sep'],
      ['2026-10-31T00:00:00Z', '31st Oct'],
      ['2026-11-04T00:00:00Z', '4th Nov'],
    ];
    for (const [iso, label] of cases) assert.equal(startsLabel(new Date(iso)), label, iso);
  });

  it('uses the UTC date, not the local one', () => {
    assert.equal(startsLabel(new Date('2026-03-03T23:30:00-05:00')), '4th Mar');
    assert.equal(startsLabel(new Date('2026-03-31T23:59:59.999Z')), '31st Mar');
  });
});

describe('daysToStart', () => {
  it('rounds whole days up and never goes below 0', () => {
    assert.equal(daysToStart(NOW, NOW), 0);
    assert.equal(daysToStart(NOW, new Date(NOW.getTime() + 1)), 1);
    assert.equal(daysToStart(NOW, new Date(NOW.getTime() + DAY)), 1);
    assert.equal(daysToStart(NOW, new Date(NOW.getTime() + DAY + 1)), 2);
    assert.equal(daysToStart(NOW, new Date(NOW.getTime() - 1)), 0);
    assert.equal(daysToStart(NOW, new Date(NOW.getTime() - 3 * DAY)), 0);
  });
});

describe('parseResources', () => {
  it('parses strings holding JSON, wraps other strings as raw, keeps non-strings', () => {
    assert.deepEqual(
      parseResources([
        '{"type":"link","url":"https://x.org"}',
        '[1,2]',
        '"quoted"',
        '42',
        'not json',
        '',
        { a: 1 },
        7,
        null,
      ]),
      [
        { type: 'link', url: 'https://x.org' },
        [1, 2],
        'quoted',
        42,
        { raw: 'not json' },
        { raw: '' },
        { a: 1 },
        7,
        null,
      ],
    );
  });

  it('gives an empty list for missing resources', () => {
    assert.deepEqual(parseResources(null), []);
    assert.deepEqual(parseResources(undefined), []);
  });
});

describe('buildTitle', () => {
  const base = { ruleKind: 'UPCOMING' as const, locationName: 'Berlin', locationId: 'loc1', daysToStart: 2 };

  it('counts events, singular for one, and says when they start', () => {
    assert.equal(
      buildTitle({ ...base, eventsTotal: 1, startsLabel: '3rd Mar' }),
      '1 event happening in Berlin starting 3rd Mar',
    );
    assert.equal(
      buildTitle({ ...base, eventsTotal: 4, startsLabel: '3rd Mar' }),
      '4 events happening in Berlin starting 3rd Mar',
    );
    assert.equal(buildTitle({ ...base, eventsTotal: 0, startsLabel: null }), '0 events happening in Berlin');
  });

  it('has its own form for REMINDER', () => {
    assert.equal(
      buildTitle({ ...base, ruleKind: 'REMINDER', eventsTotal: 3, startsLabel: '3rd Mar', daysToStart: 1 }),
      'Reminder: IRL Gathering in Berlin starts in 1 days.',
    );
  });

  it('falls back from the location name to its id, then to "this location"', () => {
    const title = (locationName: string | null, locationId: string | null) =>
      buildTitle({ ...base, locationName, locationId, eventsTotal: 2, startsLabel: null });
    assert.equal(title(null, 'loc1'), '2 events happening in loc1');
    assert.equal(title('  ', 'loc1'), '2 events happening in loc1');
    assert.equal(title(null, null), '2 events happening in this location');
  });
});

describe('buildDescription', () => {
  it("is the location's description when it is not blank, else counts", () => {
    assert.equal(buildDescription({ locationDescription: ' A city. ', eventsTotal: 2, attendeesTotal: 9 }), 'A city.');
    const fallback = '2 upcoming event(s) • 9 attendee(s)';
    assert.equal(buildDescription({ locationDescription: '  \n', eventsTotal: 2, attendeesTotal: 9 }), fallback);
    assert.equal(buildDescription({ locationDescription: null, eventsTotal: 2, attendeesTotal: 9 }), fallback);
  });
});

const item = (uid: string, start: string, end: string, attendeeCount: number): EventItemRow => ({
  uid,
  slugURL: `${uid}-slug`,
  name: `Event ${uid}`,
  startDate: new Date(start),
  endDate: new Date(end),
  attendeeCount,
  logoUrl: null,
  websiteURL: null,
  telegramId: null,
  resources: null,
});

describe('buildPayloadV1', () => {
  it('orders items by startDate and writes dates as ISO strings', () => {
    const payload = buildPayloadV1({
      now: NOW,
      ruleKind: 'UPCOMING',
      gatheringUid: 'loc1',
      location: null,
      eventsTotal: 5,
      items: [
        item('b', '2026-03-14T09:00:00Z', '2026-03-16T18:00:00Z', 8),
        item('a', '2026-03-12T09:00:00Z', '2026-03-12T18:00:00Z', 6),
      ],
      attendees: { total: 0, topAttendees: [] },
    });
    assert.deepEqual(payload, {
      version: 1,
      gatheringUid: 'loc1',
      ruleKind: 'UPCOMING',
      location: null,
      events: {
        total: 5,
        eventUids: ['a', 'b'],
        dates: { start: '2026-03-12T09:00:00.000Z', end: '2026-03-16T18:00:00.000Z' },
        items: [
          { ...expectedItem('a', '2026-03-12T09:00:00.000Z', '2026-03-12T18:00:00.000Z'), attendeeCount: 6 },
          { ...expectedItem('b', '2026-03-14T09:00:00.000Z', '2026-03-16T18:00:00.000Z'), attendeeCount: 8 },
        ],
      },
      attendees: { total: 0, topAttendees: [] },
      ui: { locationUid: 'loc1', eventSlugs: ['a-slug', 'b-slug'], startsLabel: '12th Mar', daysToStart: 2 },
    });
  });

  it('has null dates and no label when no candidate event is left', () => {
    const payload = buildPayloadV1({
      now: NOW,
      ruleKind: 'REMINDER',
      gatheringUid: 'loc1',
      location: null,
      eventsTotal: 0,
      items: [],
      attendees: { total: 0, topAttendees: [] },
    });
    assert.deepEqual(payload.events.dates, { start: null, end: null });
    assert.deepEqual(payload.ui, { locationUid: 'loc1', eventSlugs: [], startsLabel: null, daysToStart: 0 });
  });
});

function expectedItem(uid: string, startDate: string, endDate: string) {
  const base = { uid, slug: `${uid}-slug`, name: `Event ${uid}`, startDate, endDate };
  return { ...base, logoUrl: null, websiteURL: null, telegramId: null, resources: [] };
}

describe('refreshPayloadV1', () => {
  it('refreshes attendees and the ui start fields, keeping everything else', () => {
    const existing = {
      version: 1,
      custom: { kept: true },
      events: { total: 3, dates: { start: '2026-03-15T10:00:00.000Z', end: 'x' } },
      attendees: { total: 99, topAttendees: [{ memberUid: 'old' }], note: 'kept' },
      ui: { locationUid: 'stale', eventSlugs: ['s'], startsLabel: 'stale', daysToStart: 42 },
    };
    const attendees = {
      total: 1,
      topAttendees: [{ memberUid: 'm', imageUrl: null, displayName: 'M', eventsCount: 1 }],
    };
    assert.deepEqual(refreshPayloadV1(existing, { now: NOW, gatheringUid: 'loc1', attendees }), {
      ...existing,
      attendees: { ...attendees, note: 'kept' },
      ui: { locationUid: 'loc1', eventSlugs: ['s'], startsLabel: '15th Mar', daysToStart: 5 },
    });
  });

  it('tolerates a payload without events dates, attendees or ui', () => {
    const attendees = { total: 0, topAttendees: [] };
    assert.deepEqual(refreshPayloadV1({ version: 1 }, { now: NOW, gatheringUid: 'loc1', attendees }), {
      version: 1,
      attendees,
      ui: { locationUid: 'loc1', startsLabel: null, daysToStart: 0 },
    });
  });
});

describe('notificationText', () => {
  it('reads title and description off a payload of unknown shape', () => {
    assert.deepEqual(notificationText('UPCOMING', {}), {
      title: '0 events happening in this location',
      description: '0 upcoming event(s) • 0 attendee(s)',
    });
    const metadata = {
      location: { id: 'loc1', name: 'Lisbon', description: null },
      events: { total: 1 },
      attendees: { total: 4 },
      ui: { startsLabel: '3rd Mar', daysToStart: 3 },
    };
    assert.deepEqual(notificationText('UPCOMING', metadata), {
      title: '1 event happening in Lisbon starting 3rd Mar',
      description: '1 upcoming event(s) • 4 attendee(s)',
    });
    assert.equal(notificationText('REMINDER', metadata).title, 'Reminder: IRL Gathering in Lisbon starts in 3 days.');
  });
});
