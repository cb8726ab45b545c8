import { drizzle } from 'drizzle-orm/postgres-js';
import type { Db, Sql } from '../db/client.ts';
import * as schema from '../db/schema.ts';

/**
 * Runs a sync's page loop on one connection whose planner may not choose a sequential
 * scan where an index can answer (`enable_seqscan = off`), and puts the setting back
 * afterwards. Two statements per sync, none per page.
 *
 * Why: the page statement is prepared, so after five pages PostgreSQL plans it once
 * (the generic plan) and keeps that plan until the statistics of a table it reads
 * change. Planned while "PLEventGuest" is empty or its statistics say it is small (a
 * new environment, a cleaned staging copy, statistics that predate a large event), the
 * existing-guest probe becomes a sequential scan per matched member, and the plan
 * stays while the sync grows the table: quadratic, 6 to 10 times slower in the
 * benchmark. With sequential scans off, every access of the statement is an index
 * probe (the member email index, the (eventUid, memberUid) index, the main-team index)
 * whatever the statistics say, so its cost per guest stays what it normally is.
 *
 * Measured alternatives (README, Performance): plan_cache_mode = force_custom_plan
 * re-plans the statement every page and, set on the connection, also every foreign-key
 * check of every inserted row (+40% to +80% per page); an unprepared statement pays
 * parsing and planning every page (+20% to +40%); ANALYZE before the sync cannot help
 * a table that is empty when the sync starts. Limiting the setting to the page loop
 * keeps every other statement of the worker planned as usual.
 */
export async function withIndexProbes<T>(db: Db, run: (connection: Db) => Promise<T>): Promise<T> {
  const reserved = await db.$client.reserve();
  try {
    // Drizzle's type parsers live on client.options, which a reserved connection lacks:
    // it shares the pool's, which Drizzle has already set up.
    const client = Object.assign(reserved, { options: db.$client.options }) as unknown as Sql;
    const connection = drizzle(client, { schema }) as Db;
    await reserved.unsafe('SET enable_seqscan = off');
    let result: T;
    try {
      result = await run(connection);
    } catch (err) {
      // The sync's error is the one to report; a connection that cannot reset is broken
      // and is not reused.
      await reserved.unsafe('RESET enable_seqscan').catch(() => {});
      throw err;
    }
    await reserved.unsafe('RESET enable_seqscan');
    return result;
  } finally {
    reserved.release();
  }
}
