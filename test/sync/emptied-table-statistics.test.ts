import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { sql as q } from 'drizzle-orm';
import { createDatabase, type Db } from '../../src/db/client.ts';
import { withTransaction } from '../../src/db/transaction.ts';
import { followEventLocation } from '../../src/sync/follow-location.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { until } from '../support/faults.ts';
import { seedEvent, seedLocation, syncMessageFor } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

/**
 * Statistics that say "PLEventGuest" holds no rows in many pages: what VACUUM leaves after
 * a mass delete that kept one row at the table's end (so the pages could not be cut off),
 * e.g. a directory's cleanup. The planner then estimates any scan of the table at one row,
 * however many rows a sync has added since, and a self-join of the table becomes a nested
 * loop that reads the whole table once per row: quadratic. Found by bench scenario 5, where
 * a 100k-guest sync's finish ran for minutes at 100% of a core. The statements a sync's
 * finish runs must stay linear whatever the statistics.
 *
 * Linear is judged by work, not by time, so that a loaded machine cannot fail it: the rows
 * the statements read from "PLEventGuest" (sequential and index scans, PostgreSQL's own
 * counters) must stay within a few times the event's rows, where a plan that reads the
 * table once per row reads ROWS times as many (millions here, in a few seconds). A
 * statement timeout stays as a backstop, far above either, for a plan worse still.
 */
const database = await createTestDatabase({ label: 'emptied_stats' });
const { db, sql } = database;
/** The rows a directory's cleanup deleted: enough pages for the statistics to mislead. */
const CLEANED_ROWS = 20_000;
/** An event's synced rows: a plan that reads the table once per row reads millions. */
const ROWS = 2_000;
const BACKSTOP = '60s';
/**
 * Rows of "PLEventGuest" a linear finish may read. Measured: 1 and 4 times the event's rows
 * for the location follow alone; 25 times for the whole sync, which counts with its own
 * whatever the test's sessions read before it and report only meanwhile (the cleanup's
 * 20,000 rows included; at most all of them, so the figure cannot grow with load). A plan
 * that reads the table once per row reads ROWS times the table: 4,000,000 and more.
 */
const LINEAR_READS = 50 * ROWS;
const luma = useSimulatedLuma();

before(async () => {
  await sql`
    INSERT INTO "Member" (uid, name, email, "updatedAt")
    SELECT 'stats-m-' || i, 'Member ' || i, 'stats' || i || '@example.com', now() FROM generate_series(0, ${CLEANED_ROWS}) i`;
  await sql`ALTER TABLE "PLEventGuest" SET (autovacuum_enabled = false)`;
  const cleaned = await seedEvent(db);
  await sql`
    INSERT INTO "PLEventGuest" (uid, "eventUid", "locationUid", "memberUid", "externalGuestId", "updatedAt")
    SELECT 'stats-old-' || i, ${cleaned.uid}, ${cleaned.locationUid!}, 'stats-m-' || i, 'old-' || i, now()
    FROM generate_series(0, ${CLEANED_ROWS}) i`;
  await sql`DELETE FROM "PLEventGuest" WHERE "eventUid" = ${cleaned.uid} AND uid <> ${`stats-old-${CLEANED_ROWS}`}`;
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

/** followEventLocation in a transaction of its own, and the rows of "PLEventGuest" it read. */
function followWithin(target: { eventUid: string; locationUid: string }) {
  return withTransaction(db, async (tx) => {
    await tx.execute(q.raw(`SET LOCAL statement_timeout = '${BACKSTOP}'`));
    const before = await sessionReads(tx);
    const followed = await followEventLocation({ db: tx }, target);
    return { followed, reads: (await sessionReads(tx)) - before };
  });
}

/**
 * Rows of "PLEventGuest" this session read that it has not yet reported to the server's
 * statistics (PostgreSQL 15 keeps them until the session is idle; never during a
 * transaction). Rows an index scan fetches are counted against the index, not the table.
 */
async function sessionReads(tx: Db): Promise<number> {
  const [row] = await tx.execute<{ n: number }>(q`
    SELECT (pg_stat_get_xact_tuples_returned(t.oid) + pg_stat_get_xact_tuples_fetched(t.oid)
      + (SELECT coalesce(sum(pg_stat_get_xact_tuples_fetched(indexrelid)), 0) FROM pg_index WHERE indrelid = t.oid))::int AS n
    FROM (SELECT '"PLEventGuest"'::regclass::oid AS oid) t`);
  return row!.n;
}

/** Rows read from "PLEventGuest" by the sessions that have ended (and flushed their counts). */
async function tableReads(): Promise<number> {
  await sql`SELECT pg_stat_clear_snapshot()`;
  const [row] = await sql<{ n: string }[]>`
    SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n
    FROM pg_stat_user_tables WHERE relid = '"PLEventGuest"'::regclass`;
  return Number(row!.n);
}

/** The database's sessions now: the test's own, before a pool of the case's opens. */
async function sessions(): Promise<Set<number>> {
  const rows = await sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = ${database.name}`;
  return new Set(rows.map((r) => r.pid));
}

function assertLinear(reads: number) {
  assert.ok(reads <= LINEAR_READS, `read ${reads} rows of "PLEventGuest" for an event of ${ROWS}`);
}

describe('a sync finish over statistics of an emptied guest table', () => {
  it('finds that nothing moved without reading the table once per row', async () => {
    const location = (await seedLocation(db)).uid;
    const target = await eventWithSyncedRows(location, location);
    const { followed, reads } = await followWithin(target);
    assert.deepEqual(followed, { moved: 0, leftLocationUids: [] });
    assertLinear(reads);
  });

  it('moves every row of a moved event and names the location they left, in linear time', async () => {
    const left = (await seedLocation(db)).uid;
    const now = (await seedLocation(db)).uid;
    const target = await eventWithSyncedRows(left, now);
    const { followed, reads } = await followWithin(target);
    assert.deepEqual(followed, { moved: ROWS, leftLocationUids: [left] });
    assertLinear(reads);
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
    await sql.unsafe(`ALTER DATABASE "${database.name}" SET statement_timeout = '${BACKSTOP}'`);
    const ownSessions = await sessions();
    const readsBefore = await tableReads();
    const timed = createDatabase({ url: database.url, poolMax: 2 });
    let syncSessions: number[] = [];
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
      syncSessions = [...(await sessions())].filter((pid) => !ownSessions.has(pid));
    } finally {
      await timed.close();
      await sql.unsafe(`ALTER DATABASE "${database.name}" RESET statement_timeout`);
    }
    // A session flushes its counts as it ends, before it leaves pg_stat_activity.
    assert.ok(syncSessions.length > 0, 'the sync had sessions of its own');
    await until('the sync\u2019s sessions to end', async () => {
      const [row] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY(${syncSessions}::int[])`;
      return row!.n === 0;
    });
    // The test's own sessions may report reads meanwhile too: counted against the sync.
    assertLinear((await tableReads()) - readsBefore);
  });
});
