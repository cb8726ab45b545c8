import type postgres from 'postgres';
import { isConnectionLoss } from '../errors.ts';
import { within } from '../within.ts';
import type { Pooler, Sql } from './client.ts';
import { limitKindOf } from './database-limits.ts';
import { onPoolClose } from './pool-closes.ts';

/**
 * Ends the pool's sessions that are read-only, so that the pool connects again through
 * DATABASE_URL: after a switchover that leaves the old primary up and read-only (RDS
 * blue/green, a managed switchover, a DBA's default_transaction_read_only) while the host
 * name now leads to the new primary, the connections opened before stay on the old server
 * until postgres.js's max lifetime (30-60 min) ends them, and every write on them fails
 * with 25006. Called when a statement was refused as read-only (sync-event.ts) and when
 * checkWritable found the session read-only (readiness, the start-up check).
 *
 * How, given postgres.js 3.4.9, which has no way to end one pooled connection:
 * - Each idle connection is reserved in turn (`sql.reserve()`: it takes an idle one first)
 *   and asked whether its session is read-only. A writable one is released; one that is
 *   read-only is told to end itself the moment it is idle, `idle_session_timeout` = 1 ms,
 *   and is never released: the server ends it while it is reserved and idle, postgres.js
 *   takes the closed connection back into the pool, and the pool's next statement
 *   connects anew. The session is ended by the server from its idle state on purpose:
 *   a session terminated during a statement (pg_terminate_backend(pg_backend_pid()))
 *   leaves postgres.js 3.4.9 with the FATAL error kept, and it fails the first statement
 *   of the connection's next session with it; and `sql.close()`, which ends every
 *   connection, drops the never-opened ones from the pool for good.
 * - The round ends once an idle connection comes round a second time (a writable one was
 *   met again: every idle connection was asked), after 2 × max + 1 reservations, or when
 *   no connection is free within a second (the others are busy; they are asked the
 *   next time). A connection busy meanwhile is not asked; a statement of it that meets
 *   the read-only server starts another round.
 * - Concurrent callers share one round. A pool on a server that stays read-only (a reader
 *   endpoint, a standby before its promotion) has its sessions renewed at every refusal,
 *   which is cheap next to the refusals themselves.
 *
 * Behind a transaction-mode pooler (DATABASE_POOLER=transaction) nothing is ended: the
 * worker's connections lead to the pooler, whose server connections are its own; the
 * pooler's settings decide when they go (docs/operating.md, "Switchover").
 */
export interface ReadOnlyRound {
  /** Read-only sessions told to end. */
  ended: number;
  /** Why the round stopped early: no connection could be made, or its question failed (a PostgreSQL before 14 has no idle_session_timeout). */
  error?: unknown;
  /** The pool leads to a transaction-mode pooler: nothing was asked. */
  pooler?: 'transaction';
}

interface Pool {
  pooler: Pooler;
  onRound?: (round: ReadOnlyRound) => void;
  running?: Promise<ReadOnlyRound>;
}

/** How long a round waits for a free connection before it stops, and for an ended session's close. */
const WAIT_MS = 1_000;

const pools = new WeakMap<Sql, Pool>();

/** Makes `sql`'s pool one whose read-only sessions endReadOnlySessions ends (client.ts). */
export function watchReadOnlySessions(
  sql: Sql,
  options: { pooler: Pooler; onRound?: (round: ReadOnlyRound) => void },
): void {
  pools.set(sql, { ...options });
}

/**
 * Ends the read-only sessions of `sql`'s pool, one round at a time (a caller during a
 * round waits for that one); a pool not made by createDatabase is left alone. `waitMs`
 * bounds each wait for a free connection and for an ended session's close (1 s).
 */
export function endReadOnlySessions(sql: Sql, options: { waitMs?: number } = {}): Promise<ReadOnlyRound> {
  const pool = pools.get(sql);
  if (!pool) return Promise.resolve({ ended: 0 });
  if (pool.pooler === 'transaction') {
    const round: ReadOnlyRound = { ended: 0, pooler: 'transaction' };
    pool.onRound?.(round);
    return Promise.resolve(round);
  }
  pool.running ??= endRound(sql, options.waitMs ?? WAIT_MS)
    .catch((err: unknown): ReadOnlyRound => ({ ended: 0, error: err }))
    .then((round) => {
      pool.onRound?.(round);
      return round;
    })
    .finally(() => {
      pool.running = undefined;
    });
  return pool.running;
}

/**
 * After `err`: when a read-only server refused the statement (SQLSTATE 25006), ends the
 * pool's read-only sessions and resolves once the round is over, so that what the caller
 * sends next (a sync's release of its claim, the next attempt) connects through
 * DATABASE_URL again; any other error, at once.
 */
export async function endReadOnlySessionsAfter(sql: Sql, err: unknown): Promise<void> {
  if (limitKindOf(err) === 'read_only') await endReadOnlySessions(sql);
}

async function endRound(sql: Sql, waitMs: number): Promise<ReadOnlyRound> {
  const asked = new Set<number>();
  let ended = 0;
  for (let turn = 0; turn < 2 * sql.options.max + 1; turn++) {
    const connection = await reserveWithin(sql, waitMs);
    if (!connection) break;
    let row: { pid: number; read_only: boolean } | undefined;
    try {
      // The fuse only on a read-only session: CASE evaluates set_config for those alone.
      [row] = await connection<{ pid: number; read_only: boolean }[]>`
        SELECT pg_backend_pid() AS pid, read_only,
          CASE WHEN read_only THEN set_config('idle_session_timeout', '1', false) END AS fuse
        FROM (SELECT current_setting('transaction_read_only') = 'on' AS read_only) AS session`;
    } catch (err) {
      // A lost connection is postgres.js's already, closed: never handed back (page-connection.ts).
      if (isConnectionLoss(err)) continue;
      connection.release();
      return { ended, error: err };
    }
    if (row?.read_only) {
      // Not released: the server ends the session within a millisecond, reserved and idle.
      // Waited for, so that the next reservation finds its slot closed and connects it
      // itself: a reservation still waiting when a connection closes is handed the
      // reconnected one by postgres.js 3.4.9, which drops it while it loads the types.
      await nextClose(sql, waitMs);
      ended++;
      continue;
    }
    connection.release();
    if (row === undefined || asked.has(row.pid)) break;
    asked.add(row.pid);
  }
  return { ended };
}

/** A reserved connection, or undefined when none is free within `ms` (one that comes later is released). */
async function reserveWithin(sql: Sql, ms: number): Promise<postgres.ReservedSql | undefined> {
  const reserving = sql.reserve();
  const reserved = await within(reserving, ms);
  if (!reserved)
    reserving.then(
      (connection) => connection.release(),
      () => {},
    );
  return reserved;
}

/** Resolves when a connection of the pool closes next (pool-closes.ts), or after `ms`. */
function nextClose(sql: Sql, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      stopListening();
      resolve();
    };
    const timer = setTimeout(wake, ms);
    const stopListening = onPoolClose(sql, wake);
  });
}
