import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Db } from '../db/client.ts';
import * as schema from '../db/schema.ts';

/**
 * Runs a sync's page loop with a handle on a connection of its own whose planner may not
 * choose a sequential scan where an index can answer (`enable_seqscan = off`, sent when
 * the connection starts, so no statement is added to the sync). Closed afterwards.
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
 *
 * Measured alternatives (docs/performance.md): plan_cache_mode = force_custom_plan
 * re-plans the statement every page and, on the connection, also every foreign-key
 * check of every inserted row (+68% on a normal sync); an unprepared statement pays
 * parsing and planning every page (+48%); ANALYZE before the sync cannot help a table
 * that is empty when the sync starts.
 *
 * A connection of its own rather than one reserved from the pool: the page loop also
 * needs the pool (the shared rate budget takes a grant per page), so syncs holding
 * every pooled connection would wait on each other forever; and no other statement of
 * the worker is planned under this setting.
 */
export async function withIndexProbes<T>(db: Db, run: (pages: Db) => Promise<T>): Promise<T> {
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
