import type { SQL } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { type Db, executePrepared, isBehindTransactionPooler } from '../db/client.ts';
import * as schema from '../db/schema.ts';

/**
 * A sync's page statements are planned with sequential scans off (`enable_seqscan = off`)
 * wherever an index can answer.
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
 * (Unprepared, behind a pooler, each page is planned for its values on the same small
 * statistics, with the same result.)
 *
 * Measured alternatives (docs/performance.md): plan_cache_mode = force_custom_plan
 * re-plans the statement every page and, on the connection, also every foreign-key
 * check of every inserted row (+68% on a normal sync); an unprepared statement pays
 * parsing and planning every page (+48%); ANALYZE before the sync cannot help a table
 * that is empty when the sync starts.
 *
 * Two ways, by how the database is reached:
 * - Directly: the page loop gets a connection of its own that starts with the setting
 *   (withIndexProbes), so no statement or round trip is added, and the page statement
 *   runs alone, outside any transaction. (A connection reserved from the pool instead
 *   would deadlock a one-connection pool: the page loop takes its rate-budget grants from
 *   the pool.)
 * - Behind a transaction-mode pooler, which refuses or drops a startup setting: each
 *   page statement runs in a transaction of its own on the pool, after `SET LOCAL`
 *   (executeWithIndexProbes), so a sync uses only the pool's connections. Not the way for
 *   direct connections too: postgres.js 3.4.9 crashes the process, or hangs the
 *   connection for good, when a connection closes under an open transaction
 *   (porsager/postgres#1208, #1215), which a page statement alone does not risk.
 */
export async function withIndexProbes<T>(db: Db, run: (pages: Db) => Promise<T>): Promise<T> {
  if (isBehindTransactionPooler(db)) return run(db);
  const pool = db.$client.options;
  const client = postgres({
    // The pool's parsed options (host, credentials, TLS, timeouts, Drizzle's parsers).
    ...(pool as unknown as postgres.Options<Record<string, postgres.PostgresType>>),
    max: 1,
    // The array types the page statement sends and reads are already known to the pool
    // (it has run the sync's first statement): skip the type lookup a new client makes.
    fetch_types: false,
    connection: { ...pool.connection, enable_seqscan: 'off' } as never,
  });
  try {
    return await run(drizzle(client, { schema }) as Db);
  } finally {
    await client.end({ timeout: 5 });
  }
}

/**
 * Runs the page statement on a handle from withIndexProbes: as it is on the page loop's
 * own connection, or behind a transaction-mode pooler in a transaction of its own with
 * `SET LOCAL enable_seqscan = off` sent together with it (three round trips: BEGIN; the
 * setting and the statement; COMMIT).
 */
export async function executeWithIndexProbes<T>(db: Db, query: SQL): Promise<T[]> {
  if (!isBehindTransactionPooler(db)) return executePrepared<T>(db, query);
  const rows = await db.$client.begin(async (tx) => {
    const [, result] = await Promise.all([tx.unsafe(INDEX_PROBES).execute(), executePrepared<T>(db, query, tx)]);
    return result;
  });
  return rows as unknown as T[];
}

/** The setting, for the transaction of one page statement behind a pooler. */
export const INDEX_PROBES = 'SET LOCAL enable_seqscan = off';
