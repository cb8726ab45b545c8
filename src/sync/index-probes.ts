import type { SQL } from 'drizzle-orm';
import { type Db, executePrepared } from '../db/client.ts';

/**
 * Runs the page statement in a transaction of its own on one pooled connection, in which
 * the planner may not choose a sequential scan where an index can answer (`SET LOCAL
 * enable_seqscan = off`). BEGIN, the setting, the statement and COMMIT are pipelined:
 * one round trip, as the statement alone was (prepared unless the pool says otherwise).
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
 * Measured alternatives (README, Performance): plan_cache_mode = force_custom_plan
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
  const connection = await db.$client.reserve();
  try {
    // Queued in this order and sent together; each is answered in turn. If the statement
    // fails, PostgreSQL answers the COMMIT with a rollback, and the statement's error is thrown.
    const sent = [
      connection.unsafe('BEGIN').execute(),
      connection.unsafe(INDEX_PROBES).execute(),
      executePrepared<T>(db, query, connection),
      connection.unsafe('COMMIT').execute(),
    ] as const;
    const [begin, setting, rows, commit] = await Promise.allSettled(sent);
    for (const step of [begin, setting, rows, commit]) if (step.status === 'rejected') throw step.reason;
    return (rows as PromiseFulfilledResult<T[]>).value;
  } finally {
    connection.release();
  }
}

/** The setting, for the transaction of the page statement only. */
export const INDEX_PROBES = 'SET LOCAL enable_seqscan = off';
