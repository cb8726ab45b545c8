/**
 * The payload rules push-payload.test.ts leaves open (Stryker found them unpinned): the
 * location block of a rebuilt payload, the last of several items giving the end date,
 * which rule kinds a notification may carry, and metadata whose fields have the wrong
 * type (the directory's metadata is free-form JSON): such a field counts as absent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildPayloadV1,
  type EventItemRow,
  isRuleKind,
  notificationText,
  refreshPayloadV1,
} from '../../src/sync/push-payload.ts';

const NOW = new Date('2026-03-10T12:00:00.000Z');
const attendees = { total: 2, topAttendees: [] };

function item(uid: string, startDate: string, endDate: string): EventItemRow {
  return {
    uid,
    slugURL: `${uid}-slug`,
    name: `Event ${uid}`,
    startDate: new Date(startDate),
    endDate: new Date(endDate),
    attendeeCount: 3,
    logoUrl: null,
    websiteURL: null,
    telegramId: null,
    resources: null,
  };
}

describe('buildPayloadV1, more', () => {
  it('describes the location, its resources parsed', () => {
    const payload = buildPayloadV1({
      now: NOW,
      ruleKind: 'UPCOMING',
      gatheringUid: 'loc1',
      location: {
        uid: 'loc1',
        location: 'Lisbon',
        description: 'By the river',
        country: 'PT',
        timezone: 'Europe/Lisbon',
        latitude: '38.72',
        longitude: '-9.14',
        flag: '🇵🇹',
        icon: 'https://img.example/lisbon.png',
        resources: ['{"url":"https://lisbon.example"}', 'text'],
      },
      eventsTotal: 0,
      items: [],
      attendees,
    });
    assert.deepEqual(payload.location, {
      id: 'loc1',
      name: 'Lisbon',
      description: 'By the river',
      country: 'PT',
      timezone: 'Europe/Lisbon',
      latitude: '38.72',
      longitude: '-9.14',
      flag: '🇵🇹',
      icon: 'https://img.example/lisbon.png',
      resources: [{ url: 'https://lisbon.example' }, { raw: 'text' }],
    });
  });

  it('ends the dates at the last item’s end, of three', () => {
    const payload = buildPayloadV1({
      now: NOW,
      ruleKind: 'UPCOMING',
      gatheringUid: 'loc1',
      location: null,
      eventsTotal: 3,
      items: [
        item('c', '2026-03-14T09:00:00Z', '2026-03-14T18:00:00Z'),
        item('a', '2026-03-11T09:00:00Z', '2026-03-11T18:00:00Z'),
        item('b', '2026-03-12T09:00:00Z', '2026-03-16T18:00:00Z'),
      ],
      attendees,
    });
    assert.deepEqual(payload.events.dates, { start: '2026-03-11T09:00:00.000Z', end: '2026-03-14T18:00:00.000Z' });
  });
});

describe('isRuleKind', () => {
  it('accepts the two rule kinds exactly as the enum spells them, and nothing else', () => {
    assert.equal(isRuleKind('UPCOMING'), true);
    assert.equal(isRuleKind('REMINDER'), true);
    for (const other of ['upcoming', 'LATER', '', null, undefined, 1, ['UPCOMING'], { ruleKind: 'UPCOMING' }]) {
      assert.equal(isRuleKind(other), false, JSON.stringify(other));
    }
  });
});

describe('metadata fields of the wrong type', () => {
  it('refreshes attendees and ui given as text as if they were absent, adding nothing of the text', () => {
    const fresh = refreshPayloadV1(
      { version: 1, attendees: 'many', ui: 'hidden' },
      { now: NOW, gatheringUid: 'loc1', attendees },
    );
    assert.deepEqual(fresh, {
      version: 1,
      attendees,
      ui: { locationUid: 'loc1', startsLabel: null, daysToStart: 0 },
    });
  });

  it('does not read a start date given as a number', () => {
    const fresh = refreshPayloadV1(
      { version: 1, events: { dates: { start: Date.UTC(2026, 2, 12) } } },
      { now: NOW, gatheringUid: 'loc1', attendees },
    );
    assert.deepEqual(fresh.ui, { locationUid: 'loc1', startsLabel: null, daysToStart: 0 });
  });

  it('names the location by its id when its name is not text', () => {
    const text = notificationText('UPCOMING', { location: { id: 'loc1', name: 42, description: 7 }, events: {} });
    assert.deepEqual(text, {
      title: '0 events happening in loc1',
      description: '0 upcoming event(s) • 0 attendee(s)',
    });
  });
});
