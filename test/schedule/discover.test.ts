import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findSyncableEventPages, findSyncableEvents } from '../../src/schedule/discover.ts';
import { createTestDatabase } from '../support/db.ts';
import { seedEvent } from '../support/seed.ts';

const database = await createTestDatabase({ label: 'discover' });
const { db } = database;

describe('findSyncableEvents', () => {
  it('selects exactly the events eligible at each boundary of the rule', async () => {
    const now = new Date('2031-06-01T03:00:00.000Z');
    const eligible = await seedEvent(db, { endDate: new Date(now.getTime() + 1) });
    const far = await seedEvent(db, { endDate: new Date('2031-07-01T00:00:00Z') });
    const ineligible = [
      await seedEvent(db, { endDate: now }), // ends exactly now: over
      await seedEvent(db, { endDate: new Date(now.getTime() - 1) }),
      await seedEvent(db, { endDate: far.endDate, externalEventProvider: null }),
      await seedEvent(db, { endDate: far.endDate, externalEventId: '' }),
      await seedEvent(db, { endDate: far.endDate, externalEventId: '   ' }),
      await seedEvent(db, { endDate: far.endDate, externalEventId: null }),
      await seedEvent(db, { endDate: far.endDate, locationUid: null }),
      await seedEvent(db, { endDate: far.endDate, isDeleted: true }),
    ];

    const found = await findSyncableEvents({ db }, now);
    // Other tests of this file seed into the same database; look only at this test's events.
    const seeded = new Set([eligible.uid, far.uid, ...ineligible.map((e) => e.uid)]);
    assert.deepEqual(
      found
        .filter((e) => seeded.has(e.eventUid))
        .map((e) => e.eventUid)
        .sort(),
      [eligible.uid, far.uid].sort(),
    );
    assert.deepEqual(
      found.find((e) => e.eventUid === eligible.uid),
      {
        eventUid: eligible.uid,
        externalEventId: eligible.externalEventId,
        locationUid: eligible.locationUid,
        providerType: 'LUMA',
      },
    );
  });

  it('pages through many events by id without losing or repeating one', async () => {
    const now = new Date('2040-01-01T00:00:00.000Z');
    const endDate = new Date('2040-02-01T00:00:00.000Z');
    const seeded: string[] = [];
    for (let i = 0; i < 23; i++) seeded.push((await seedEvent(db, { endDate })).uid);
    const pages: string[][] = [];
    for await (const page of findSyncableEventPages({ db }, now, 5)) pages.push(page.map((e) => e.eventUid));
    assert.equal(new Set(pages.flat()).size, pages.flat().length, 'no event twice');
    assert.ok(
      pages.slice(0, -1).every((p) => p.length === 5),
      'full pages until the last',
    );
    assert.deepEqual(
      pages.flat().filter((uid) => seeded.includes(uid)),
      seeded,
      'in insertion (id) order, each once',
    );
  });

  it('ends after a last page that is full, and finds nothing when nothing is eligible', async () => {
    const now = new Date('2044-12-01T00:00:00.000Z');
    const endDate = new Date('2045-01-01T00:00:00.000Z');
    const seeded: string[] = [];
    for (let i = 0; i < 10; i++) seeded.push((await seedEvent(db, { endDate })).uid);
    const pages: string[][] = [];
    for await (const page of findSyncableEventPages({ db }, now, 5)) pages.push(page.map((e) => e.eventUid));
    assert.deepEqual(pages, [seeded.slice(0, 5), seeded.slice(5)]);
    assert.deepEqual(await findSyncableEvents({ db }, new Date('2099-01-01T00:00:00.000Z')), []);
  });
});
