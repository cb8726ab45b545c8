import type { Database } from '../../src/db/client.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { time } from './harness.ts';
import { benchEvent, benchSyncDeps } from './sync-env.ts';

/**
 * Scenario 1's adversarial first syncs: the same event synced into a "PLEventGuest"
 * whose statistics say it is empty or small while the sync fills it. Autovacuum is off
 * for the table meanwhile, so no automatic ANALYZE rescues the plan halfway (on a busy
 * server it may not come for minutes either). The case's time is compared with the
 * normal first sync of the same run.
 */
export const FIRST_SYNC_CASES = {
  /** A new environment or a cleaned table: empty, and its statistics say so (what VACUUM or ANALYZE of an empty table leaves). */
  'empty guest table, autovacuum off': async (sql: Database['sql']) => {
    await sql`TRUNCATE "PLEventGuest"`;
    await sql`ANALYZE "PLEventGuest"`;
  },
  /** Statistics taken while the table held one small event, then a large event arrives. */
  'stale statistics (taken at 100 rows)': async (sql: Database['sql']) => {
    await onlyRowsOfAnotherEvent(sql, 'small', 100);
    await sql`ANALYZE "PLEventGuest"`;
  },
  /**
   * A mass delete that kept the table's last row, then VACUUM: many pages, about one row,
   * so the planner estimates every scan of the table at one row however many a sync adds.
   * A self-join at the finish became quadratic here (test/sync/emptied-table-statistics.test.ts).
   */
  'emptied-table statistics (pages kept, one row)': async (sql: Database['sql']) => {
    // 30,000 rows: within --quick's 40,000 members.
    await onlyRowsOfAnotherEvent(sql, 'cleaned', 30_000);
    await sql`DELETE FROM "PLEventGuest" WHERE uid <> 'cleaned-29999'`;
    await sql`VACUUM ANALYZE "PLEventGuest"`;
  },
} as const;

/** Empties the guest table, then fills it with `count` synced rows of another event, uids `${name}-0`…. */
async function onlyRowsOfAnotherEvent(sql: Database['sql'], name: string, count: number): Promise<void> {
  await sql`TRUNCATE "PLEventGuest"`;
  const other = await benchEvent(sql, `evt-${name}`);
  await sql`
    INSERT INTO "PLEventGuest" (uid, "eventUid", "locationUid", "memberUid", "externalGuestId", "updatedAt")
    SELECT ${name} || '-' || i, ${other.eventUid}, 'bench-loc', 'bench-m-' || i, 'gst-' || ${name} || '-' || i, now()
    FROM generate_series(0, ${count - 1}) i`;
}

export type FirstSyncCase = keyof typeof FIRST_SYNC_CASES;

/** Times a first sync of `externalEventId` after putting the guest table in `name`'s state. */
export async function timeFirstSyncCase(
  db: Database,
  lumaUrl: string,
  externalEventId: string,
  name: FirstSyncCase,
): Promise<number> {
  await db.sql`ALTER TABLE "PLEventGuest" SET (autovacuum_enabled = false)`;
  try {
    await FIRST_SYNC_CASES[name](db.sql);
    const message = await benchEvent(db.sql, externalEventId);
    const { ms } = await time(() => syncEvent(benchSyncDeps(db.db, lumaUrl), message));
    return ms;
  } finally {
    await db.sql`ALTER TABLE "PLEventGuest" RESET (autovacuum_enabled)`;
    // The next run's normal case starts from statistics that describe the table.
    await db.sql`ANALYZE "PLEventGuest"`;
  }
}
