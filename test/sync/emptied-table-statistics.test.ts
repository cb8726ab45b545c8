import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { sql as q } from 'drizzle-orm';
import { createDatabase } from '../../src/db/client.ts';
import { withTransaction } from '../../src/db/transaction.ts';
import { followEventLocation } from '../../src/sync/follow-location.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { seedEvent, seedLocation, syncMessageFor } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

/**
 * Statistics that say "PLEventGuest" holds no rows in many pages: what VACUUM leaves after
 * a mass delete that kept one row at the table's end (so the pages could not be cut off),
 * e.g. a directory's cleanup. The planner then estimates any scan of the table at one row,
 * however many rows a sync has added since, and a self-join of the table becomes a nested
 * loop that reads the whole table once per row: quadratic. Found by bench scenario 5, where
 * a 100k-guest sync's finish ran for minutes at 100% of a core. The statements a sync's
 * finish runs must stay linear whatever the statistics; here with a statement timeout far
 * above the linear time (about a second on an idle machine, the moved event's 20,000 row
 * updates the longest) and below the quadratic one (over 20 s at these 20,000 rows).
 */
const database = await createTestDatabase({ label: 'emptied_stats' });
const { db, sql } = database;
const ROWS = 20_000;
const TIMEOUT = '10s';
const luma = useSimulatedLuma();

before(async () => {
  await sql`
    INSERT INTO "Member" (uid, name, email, "updatedAt")
    SELECT 'stats-m-' || i, 'Member ' || i, 'stats' || i || '@example.com', now() FROM generate_series(0, ${ROWS}) i`;
  await sql`ALTER TABLE "PLEventGuest" SET (autovacuum_enabled = false)`;
  const cleaned = await seedEvent(db);
  await sql`
    INSERT INTO "PLEventGuest" (uid, "eventUid", "locationUid", "memberUid", "externalGuestId", "updatedAt")
    SELECT 'stats-old-' || i, ${cleaned.uid}, ${cleaned.locationUid!}, 'stats-m-' || i, 'old-' || i, now()
    FROM generate_series(0, ${ROWS}) i`;
  await sql`DELETE FROM "PLEventGuest" WHERE "eventUid" = ${cleaned.uid} AND uid <> ${`stats-old-${ROWS}`}`;
  await sql`VACUUM ANALYZE "PLEventGuest"`;
  const [stats] = await sql<{ relpages: number; reltuples: number }[]>`
    SELECT relpages, reltuples FROM pg_class WHERE oid = '"PLEventGuest"'::regclass`;
  // The state under test: many pages, about one row.
  assert.ok(stats!.relpages > 50 && stats!.reltuples <= 1, `statistics ${JSON.stringify(stats)}`);
});

/** An event with ROWS synced rows at `rowsAt`, added after the statistics were taken. */
async function eventWithSyncedRows(rowsAt: string, eventLocation: string) {
  const event = await seedEvent(db, { locationUid: eventLocation });
  await sql`
    INSERT INTO "PLEventGuest" (uid, "eventUid", "locationUid", "memberUid", "externalGuestId", "updatedAt")
    SELECT ${event.uid} || '-' || i, ${event.uid}, ${rowsAt}, 'stats-m-' || i, 'gst-' || i, now()
    FROM generate_series(0, ${ROWS - 1}) i`;
  return { eventUid: event.uid, locationUid: eventLocation };
}

function followWithin(target: { eventUid: string; locationUid: string }) {
  return withTransaction(db, async (tx) => {
    await tx.execute(q.raw(`SET LOCAL statement_timeout = '${TIMEOUT}'`));
    return followEventLocation({ db: tx }, target);
  });
}

describe('a sync finish over statistics of an emptied guest table', () => {
  it('finds that nothing moved without reading the table once per row', async () => {
    const location = (await seedLocation(db)).uid;
    const target = await eventWithSyncedRows(location, location);
    const followed = await followWithin(target);
    assert.deepEqual(followed, { moved: 0, leftLocationUids: [] });
  });

  it('moves every row of a moved event and names the location they left, in linear time', async () => {
    const left = (await seedLocation(db)).uid;
    const now = (await seedLocation(db)).uid;
    const target = await eventWithSyncedRows(left, now);
    const followed = await followWithin(target);
    assert.deepEqual(followed, { moved: ROWS, leftLocationUids: [left] });
    const [after] = await sql<{ at: string; n: number }[]>`
      SELECT "locationUid" AS at, count(*)::int AS n FROM "PLEventGuest" WHERE "eventUid" = ${target.eventUid} GROUP BY 1`;
    assert.deepEqual(after, { at: now, n: ROWS });
  });

  it('runs a whole sync over it, stale removal and the push refresh included, in linear time', async () => {
    // The event already holds ROWS synced rows; Luma now lists a tenth of them, so the
    // finish removes the rest. Every statement of the sync runs under the timeout.
    const location = (await seedLocation(db)).uid;
    const target = await eventWithSyncedRows(location, location);
    const listed = ROWS / 10;
    const [event] = await sql<{ externalEventId: string }[]>`
      SELECT "externalEventId" FROM "PLEvent" WHERE uid = ${target.eventUid}`;
    luma.serve({
      events: {
        [event!.externalEventId]: Array.from({ length: listed }, (_, i) => ({
          id: `gst-${i}`,
          email: `stats${i}@example.com`,
        })),
      },
    });
    await sql.unsafe(`ALTER DATABASE "${database.name}" SET statement_timeout = '${TIMEOUT}'`);
    const timed = createDatabase({ url: database.url, poolMax: 2 });
    try {
      const message = syncMessageFor({
        uid: target.eventUid,
        externalEventId: event!.externalEventId,
        locationUid: location,
      });
      const result = await syncEvent(
        { ...syncDeps(timed.db, { pageSize: 100 }), removeStale: { enabled: true, maxShare: 1 } },
        message,
      );
      assert.deepEqual(
        { pages: result.pages, created: result.created, removed: result.removed },
        { pages: listed / 100, created: 0, removed: ROWS - listed },
      );
    } finally {
      await timed.close();
      await sql.unsafe(`ALTER DATABASE "${database.name}" RESET statement_timeout`);
    }
  });
});
