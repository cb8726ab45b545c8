import type { TransactionSql } from 'postgres';
import type { Sql } from './client.ts';
import { onPoolClose } from './pool-closes.ts';

/**
 * Keeps a transaction from sending anything more once its connection has closed under it
 * (a PostgreSQL restart or failover, a terminated session, an idle-in-transaction
 * timeout). postgres.js 3.4.9 writes a statement sent on a closed transaction connection
 * (the body's next statement, or the COMMIT or ROLLBACK sql.begin sends when the body
 * ends) to the closed socket from a timer: an uncaught TypeError that ends the process
 * (docs/driver-workarounds.md). It ended a replica at a PostgreSQL restart in the soak.
 *
 * Only sql.begin learns which connection closed, and it tells by rejecting its own promise
 * while the body still runs. The pool's `onclose` (pool-closes.ts) tells that *some*
 * connection closed, and tells it at once, before anything can be sent. So after any close
 * in the pool while the transaction runs, its statements and its end wait one turn of the
 * event loop: by then sql.begin's rejection, if the connection was its own, has been seen
 * (`beginSettled`), and nothing more is sent. Closes are rare, so the wait costs nothing in
 * normal running.
 *
 * A lost transaction's body is left unsettled, so that sql.begin neither commits nor rolls
 * back (PostgreSQL rolled it back when the session ended): sql.begin's promise has already
 * rejected with the connection's error, and the caller gets that.
 */
export class ClosedTransactionGuard {
  #lost = false;
  #bodyEnded = false;
  /** Set from a close in the pool until the next turn of the event loop. */
  #checking: Promise<void> | undefined;
  readonly #stopWatching: () => void;

  constructor(sql: Sql) {
    this.#stopWatching = onPoolClose(sql, () => {
      this.#checking ??= new Promise((resolve) =>
        setImmediate(() => {
          this.#checking = undefined;
          resolve();
        }),
      );
    });
  }

  /** To be called once sql.begin's promise settles, either way. */
  beginSettled(): void {
    // Settled before the body ended: sql.begin saw the body's connection close.
    if (!this.#bodyEnded) this.#lost = true;
    this.#stopWatching();
  }

  /** The body's outcome, handed to sql.begin only if its connection is still open. */
  async body<T>(outcome: Promise<T>): Promise<T> {
    const settled = await outcome.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    await this.#checked();
    if (this.#lost) return new Promise<never>(() => {});
    this.#bodyEnded = true;
    if (settled.ok) return settled.value;
    throw settled.error;
  }

  /**
   * `connection` as Drizzle's session uses it (`unsafe`, awaited or with `.values()`),
   * each statement sent only while the connection is open.
   */
  connection(connection: TransactionSql): TransactionSql {
    return new Proxy(connection, {
      get: (target, property, receiver) => {
        if (property !== 'unsafe') return Reflect.get(target, property, receiver);
        return (...args: Parameters<TransactionSql['unsafe']>) => {
          if (!this.#lost && !this.#checking) return target.unsafe(...args);
          // Sent once the close is known not to be this transaction's.
          // Boxed: a promise resolved with the driver's query (a thenable) would run it.
          const sent = this.#checked().then(() => {
            if (this.#lost) throw new TransactionConnectionClosedError();
            return { query: target.unsafe(...args) };
          });
          return {
            // biome-ignore lint/suspicious/noThenProperty: awaited as the driver's query is
            then: (resolve: (rows: unknown) => unknown, reject: (err: unknown) => unknown) =>
              sent.then(({ query }) => query).then(resolve, reject),
            values: () => sent.then(({ query }) => query.values()),
          };
        };
      },
    });
  }

  async #checked(): Promise<void> {
    while (this.#checking) await this.#checking;
  }
}

/** A statement of a transaction whose connection closed: not sent. */
export class TransactionConnectionClosedError extends Error {
  /** As postgres.js's own, so that it is a lost connection to every caller (errors.ts). */
  readonly code = 'CONNECTION_CLOSED';

  constructor() {
    super('statement not sent: the connection of its transaction closed');
    this.name = 'TransactionConnectionClosedError';
  }
}
