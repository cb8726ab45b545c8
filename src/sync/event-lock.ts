import postgres from 'postgres';
import type { Db } from '../db/client.ts';

/**
 * The advisory-lock namespace (first key) of per-event sync locks; the event uid's
 * hashtext is the second. The gathering locks of post-sync.ts use another namespace;
 * the migrator uses the one-key form, a separate space.
 */
export const EVENT_LOCK_NAMESPACE = 0x4c475301;

/** A sync of this event is already running (another worker, a CLI run, a lapsed message). */
export class EventSyncRunningError extends Error {
  /** Retryable: the consumer leaves the message for redelivery once the other sync is done. */
  readonly kind = 'event_sync_running';

  readonly eventUid: string;

  constructor(eventUid: string) {
    super(`Event ${eventUid} is already being synced (by another worker or a sync command); try again later`);
    this.name = 'EventSyncRunningError';
    this.eventUid = eventUid;
  }
}

/**
 * Runs one event's sync holding that event's lock. Two syncs of one event never
 * overlap: the second is refused at once with EventSyncRunningError, before it reads
 * Luma. Syncs of different events never wait for each other (only a hash collision of
 * two uids, 1 in 2^32 per pair, would make one of them retry later).
 *
 * A session-level advisory lock must live on one connection for the whole sync, so it
 * gets a connection of its own, opened with the pool's settings and closed after:
 * PostgreSQL releases a session's locks when the session ends, a crashed worker's
 * included. (A connection reserved from the pool would be cheaper, but postgres.js
 * sends later statements to a reserved connection even after it closed, and then
 * throws outside any promise.) The sync's own statements still use the pool. Should
 * the lock's connection close mid-sync, the lock is gone, so `run`'s signal aborts the
 * sync before it records anything more.
 */
export async function withEventLock<T>(
  db: Db,
  eventUid: string,
  run: (lockLost: AbortSignal) => Promise<T>,
): Promise<T> {
  const lost = new AbortController();
  let done = false;
  // The pool's parsed options (host, credentials, TLS, timeouts, parsers) for one connection.
  const options = {
    ...db.$client.options,
    max: 1,
    // Idle by design between its two statements, however long the sync: the pool's idle
    // timeout would close it, and the lock with it, mid-sync (issue 19).
    idle_timeout: 0,
    // Its two statements use only built-in types: skip the type lookup a new client makes.
    fetch_types: false,
    onclose: () => {
      if (!done) lost.abort(new Error(`The lock on event ${eventUid} was lost: its database connection closed`));
    },
  };
  const lockSql = postgres(options as unknown as postgres.Options<Record<string, postgres.PostgresType>>);
  try {
    const [row] = await lockSql<{ locked: boolean }[]>`
      SELECT pg_try_advisory_lock(${EVENT_LOCK_NAMESPACE}::int, hashtext(${eventUid})) AS locked`;
    if (!row?.locked) throw new EventSyncRunningError(eventUid);
    try {
      return await run(lost.signal);
    } finally {
      done = true;
      // Released with the session below anyway; unlocking first keeps it explicit.
      await lockSql`SELECT pg_advisory_unlock(${EVENT_LOCK_NAMESPACE}::int, hashtext(${eventUid}))`.catch(() => {});
    }
  } finally {
    done = true;
    await lockSql.end({ timeout: 5 });
  }
}
