/**
 * A page statement whose connection is reset under it (the server host went down, a
 * middlebox dropped the flow) fails in Node's own words, `read ECONNRESET`, before
 * postgres.js names it: the page connection sends without Drizzle, so no DrizzleQueryError
 * says it came from the database. Found by the soak at a PostgreSQL restart, where such a
 * failure was counted as `unexpected` in the history, the log and the metrics.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createDatabase } from '../../src/db/client.ts';
import { errorKind, isConnectionLoss } from '../../src/errors.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { until, within } from '../support/faults.ts';
import { guestsOf, seedEvent, seedMember, syncMessageFor } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';
import { tripwireToDatabase } from '../support/tripwire-link.ts';

const database = await createTestDatabase({ label: 'page_connection_reset' });
const { db, sql } = database;
const luma = useSimulatedLuma();

/** The text of every page statement after the first (page 1's has a shape of its own). */
const LATER_PAGE = 'not_yet_guests';

async function pagesDone(eventUid: string) {
  const [row] = await sql<{ pages_done: number }[]>`
    SELECT pages_done FROM luma_guest_sync.event_claim WHERE event_uid = ${eventUid}`;
  return row?.pages_done;
}

describe('a page connection reset mid-sync', () => {
  it('fails the sync as a database failure, a connection loss, and the next attempt resumes at that page', async () => {
    const { link, url } = await tripwireToDatabase(database.url);
    const handle = createDatabase({ url, poolMax: 2 });
    // Its close waits out the pool's timeout: the lost reservation is never released
    // (docs/driver-workarounds.md).
    after(() => handle.close(0.5));

    const event = await seedEvent(db);
    const message = syncMessageFor(event);
    const members = await Promise.all(Array.from({ length: 4 }, () => seedMember(db)));
    luma.serve({
      events: { [message.externalEventId]: members.map((m, i) => ({ id: `gst-${i + 1}`, email: m.email! })) },
      fault: async (_request, pageNo) => {
        // Armed once page 1 is written; page 2's statement is the first of its shape, so its
        // text goes on the wire (a prepared statement's later runs carry only its name).
        if (pageNo === 2 && link.cut() === 0) {
          await until('page 1 to be written', async () => (await pagesDone(event.uid)) === 1);
          link.arm(LATER_PAGE, 'reset');
        }
        return undefined;
      },
    });
    const deps = syncDeps(handle.db, { pageSize: 1 });

    const err = await within(
      'the sync to fail',
      syncEvent(deps, message).then(
        () => assert.fail('the sync succeeded over a reset connection'),
        (e: unknown) => e,
      ),
    );

    assert.equal(link.cut(), 1, 'the page connection was reset');
    assert.ok(isConnectionLoss(err), `told as a connection loss: ${String(err)}`);
    assert.equal(errorKind(err), 'database', `counted as a database failure: ${String(err)}`);
    assert.deepEqual(
      (await guestsOf(db, event.uid)).map((r) => r.externalGuestId),
      ['gst-1'],
      'page 1 kept, page 2 not half-written',
    );
    const resumed = await syncEvent(deps, message);
    assert.equal(resumed.resumedAtPage, 2);
    assert.deepEqual((await guestsOf(db, event.uid)).map((r) => r.externalGuestId).sort(), [
      'gst-1',
      'gst-2',
      'gst-3',
      'gst-4',
    ]);
  });
});
