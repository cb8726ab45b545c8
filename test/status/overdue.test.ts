import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countOverdueEvents } from '../../src/status/overdue.ts';
import { createTestDatabase } from '../support/db.ts';
import { DAY, seedEvent } from '../support/seed.ts';

const HOUR = 3_600_000;
const db = await createTestDatabase({ label: 'overdue' });

describe('countOverdueEvents', () => {
  it('counts syncable events whose last success, or creation when never synced, is older than the cut-off', async () => {
    const now = new Date();
    const ago = (ms: number) => new Date(now.getTime() - ms);
    // Overdue: synced 27 h ago; never synced and created two days ago.
    await seedEvent(db.db, { guestLastSyncedAt: ago(27 * HOUR) });
    await seedEvent(db.db, { createdAt: ago(2 * DAY) });
    // Not overdue: synced 25 h ago; never synced but created an hour ago.
    await seedEvent(db.db, { guestLastSyncedAt: ago(25 * HOUR), createdAt: ago(10 * DAY) });
    await seedEvent(db.db, { createdAt: ago(HOUR) });
    // Not syncable, however stale: ended, deleted, no Luma id.
    await seedEvent(db.db, { createdAt: ago(9 * DAY), endDate: ago(DAY), startDate: ago(2 * DAY) });
    await seedEvent(db.db, { createdAt: ago(9 * DAY), isDeleted: true });
    await seedEvent(db.db, { createdAt: ago(9 * DAY), externalEventId: null });

    assert.equal(await countOverdueEvents(db, now, 26), 2);
    // The cut-off moves with the setting: at 24 h the one synced 25 h ago is overdue too.
    assert.equal(await countOverdueEvents(db, now, 24), 3);
  });
});
