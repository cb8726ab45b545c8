import type { SQL } from 'drizzle-orm';
import { type Db, executePrepared } from '../db/client.ts';

/**
 * Runs the page statement in a transaction of its own on one pooled connection, in which
 * the planner may not choose a sequential scan where an index can answer (`SET LOCAL
 * enable_seqscan = off`, sent together with the statement). Three round trips (BEGIN;
 * the setting and the statement; COMMIT) where the statement alone took one; prepared
 * unless the pool says otherwise.
 *
 * Why: the page statement is prepared, so after five pages PostgreSQL plans it once
 * (the generic plan) and keeps that plan until the statistics of a table it reads
 * change. Planned while "PLEventGuest" is empty or its statistics say it is small (a
 * new environment, a cleaned staging copy, statistics that predate a large event), the
 * existing-guest probe becomes a sequential scan per matched member, and the plan
 * stays while the sync grows the table: quadratic, 6 to 10 times slower in the
 * benchmark. With sequential scans off, every access of the statement is an index
 * probe (the members' email index, the (eventUid, memberUid) index, the main-team
 * index) whatever the statistics say, so its cost per guest stays what it normally is.
 * The setting is in force whenever the statement is planned, generic plan included.
 *
 * Measured alternatives (docs/performance.md): plan_cache_mode = force_custom_plan
 * re-plans the statement every page and, on the connection, also every foreign-key
 * check of every inserted row (+68% on a normal sync); an unprepared statement pays
 * parsing and planning every page (+48%); ANALYZE before the sync cannot help a table
 * that is empty when the sync starts.
 *
 * Transaction-scoped, not a setting of a connection of its own (sent at its start, as
 * before): behind a transaction-mode pooler (PgBouncer, RDS Proxy) a startup setting is
 * refused or silently dropped, and only what lives in one transaction reaches the
 * server connection the statement runs on. So a sync uses the pool's connections only,
 * one at a time, and no other statement of the worker is planned under this setting.
 */
export async function executeWithIndexProbes<T>(db: Db, query: SQL): Promise<T[]> {
  // sql.begin, not a connection reserved for hand-sent BEGIN and COMMIT (which would save
  // two round trips): postgres.js throws outside any promise, and then hands out the dead
  // connection again, when a reserved connection closes under it (a pooler restarting).
  // A prepared statement the server connection does not know (a pooler's other server
  // connection, a plan invalidated by DDL) fails the transaction: postgres.js prepares it
  // again only outside one. Behind a pooler, DATABASE_PREPARED_STATEMENTS=false avoids it.
  const rows = await db.$client.begin(async (tx) => {
    // Sent together: the setting does not cost a round trip of its own.
    const [, result] = await Promise.all([tx.unsafe(INDEX_PROBES).execute(), executePrepared<T>(db, query, tx)]);
    return result;
  });
  return rows as unknown as T[];
}

/** The setting, for the transaction of the page statement only. */
export const INDEX_PROBES = 'SET LOCAL enable_seqscan = off';
