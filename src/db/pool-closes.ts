import type { Sql } from './client.ts';

/**
 * Who wants to know when a connection of a pool closes: postgres.js tells only the pool's
 * one `onclose` option, which createDatabase points here. The read-only round waits for
 * each session it ended to close (read-only-sessions.ts), and a reservation asks again
 * after a close (reserve-connection.ts).
 */
const listenersOf = new WeakMap<Sql, Set<() => void>>();

/** Makes `sql`'s closes known to onPoolClose; returns what the pool's `onclose` must call. */
export function watchPoolCloses(sql: Sql): () => void {
  const listeners = new Set<() => void>();
  listenersOf.set(sql, listeners);
  // A copy: a listener may remove itself, or add another, while it is told.
  return () => {
    for (const listener of [...listeners]) listener();
  };
}

/**
 * Calls `listener` each time a connection of `sql`'s pool closes, until the returned
 * function is called. It is called inside the driver's own close handling, before the
 * driver reconnects the slot for whatever waits: a listener that sends statements or
 * reserves defers that. A pool createDatabase did not make tells nothing.
 */
export function onPoolClose(sql: Sql, listener: () => void): () => void {
  const listeners = listenersOf.get(sql);
  listeners?.add(listener);
  return () => {
    listeners?.delete(listener);
  };
}
