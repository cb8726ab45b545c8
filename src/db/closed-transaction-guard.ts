import type { TransactionSql } from 'postgres';
import type { Sql } from './client.ts';
import { closeTurn } from './pool-closes.ts';

/**
 * Keeps a transaction from sending anything more once its connection has closed under it
 * (a PostgreSQL restart or failover, a terminated session, an idle-in-transaction
 * timeout, PgBouncer ending the client when the server session died). postgres.js 3.4.9
 * writes a statement sent on a closed transaction connection (the body's next statement,
 * or the COMMIT or ROLLBACK sql.begin sends when the body ends) to the closed socket from
 * a timer: an uncaught TypeError that ends the process (docs/driver-workarounds.md). It
 * ended a replica at a PostgreSQL restart in the soak.
 *
 * Only sql.begin learns which connection closed, and it tells by rejecting its own promise
 * while the body still runs (`beginSettled`). The pool tells at once that *some* connection
 * closed (pool-closes.ts), before anything can be sent. So in the turn of the event loop
 * of a close, a transaction's statements and its end wait for that turn to be over: by
 * then sql.begin's rejection, if the connection was its own, has been seen, and nothing
 * more is sent. Closes are rare, so the wait costs nothing in normal running.
 *
 * A lost transaction's body is left unsettled, so that sql.begin neither commits nor rolls
 * back (PostgreSQL rolled it back when the session ended): sql.begin's promise has already
 * rejected with the connection's error, and the caller gets that.
 */
export class ClosedTransactionGuard {
  readonly #pool: Sql;
  /** sql.begin has settled: before the body ended, only when its connection closed. */
  #over = false;

  constructor(pool: Sql) {
    this.#pool = pool;
  }

  /** To be called when sql.begin's promise rejects. */
  beginSettled(): void {
    this.#over = true;
  }

  /** The body's outcome, handed to sql.begin only if its connection is still open. */
  async body<T>(outcome: Promise<T>): Promise<T> {
    const settled = await outcome.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    await this.#closesSeen();
    if (this.#over) return new Promise<never>(() => {});
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
          if (!this.#over && !closeTurn(this.#pool)) return target.unsafe(...args);
          // Boxed: a promise resolved with the driver's query (a thenable) would run it.
          const sent = this.#closesSeen().then(() => {
            if (this.#over) throw new TransactionConnectionClosedError();
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

  async #closesSeen(): Promise<void> {
    for (let turn = closeTurn(this.#pool); turn; turn = closeTurn(this.#pool)) await turn;
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
