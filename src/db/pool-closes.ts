import type { Sql } from './client.ts';

/**
 * Who wants to know when a connection of a pool closes: postgres.js tells only the pool's
 * one `onclose` option, which createDatabase points here. The read-only round waits for
 * each session it ended to close (read-only-sessions.ts), a reservation asks again after
 * a close (reserve-connection.ts), and a transaction waits out the turn of a close
 * (closed-transaction-guard.ts).
 */
interface PoolCloses {
  listeners: Set<() => void>;
  /** From a close until the end of that turn of the event loop. */
  turn: Promise<void> | undefined;
}

const closesOf = new WeakMap<Sql, PoolCloses>();

/** Makes `sql`'s closes known to onPoolClose; returns what the pool's `onclose` must call. */
export function watchPoolCloses(sql: Sql): () => void {
  const closes: PoolCloses = { listeners: new Set(), turn: undefined };
  closesOf.set(sql, closes);
  return () => {
    closes.turn ??= new Promise((resolve) =>
      setImmediate(() => {
        closes.turn = undefined;
        resolve();
      }),
    );
    // A copy: a listener may remove itself, or add another, while it is told.
    for (const listener of [...closes.listeners]) listener();
  };
}

/**
 * Calls `listener` each time a connection of `sql`'s pool closes, until the returned
 * function is called. It is called inside the driver's own close handling, before the
 * driver reconnects the slot for whatever waits: a listener that sends statements or
 * reserves defers that. A pool createDatabase did not make tells nothing.
 */
export function onPoolClose(sql: Sql, listener: () => void): () => void {
  const listeners = closesOf.get(sql)?.listeners;
  listeners?.add(listener);
  return () => {
    listeners?.delete(listener);
  };
}

/**
 * While a turn of the event loop in which a connection of `sql`'s pool closed is not over:
 * a promise that resolves when it is, by which time every reaction the driver's close
 * handling started (a transaction's rejection among them) has run. Otherwise undefined.
 */
export function closeTurn(sql: Sql): Promise<void> | undefined {
  return closesOf.get(sql)?.turn;
}
