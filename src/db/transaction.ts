import { PgDialect } from 'drizzle-orm/pg-core';
import { PostgresJsSession, PostgresJsTransaction } from 'drizzle-orm/postgres-js';
import type { Sql, TransactionSql } from 'postgres';
import { asDatabaseFailure } from '../errors.ts';
import type { Db } from './client.ts';
import { ClosedTransactionGuard } from './closed-transaction-guard.ts';

/** Sent in the BEGIN itself (postgres.js keeps only the letters and spaces of a mode). */
const READ_COMMITTED = 'isolation level read committed';

const dialect = new PgDialect();

/**
 * Runs `run` in one transaction on one pooled connection, committed when it resolves,
 * rolled back when it throws. The statement helpers take a Db and use only the query
 * builder and execute(), which a Drizzle transaction has too (it lacks only $client,
 * which no helper run in a transaction uses: executePrepared is for the page statement).
 *
 * Read committed is named, not left to default_transaction_isolation: a role may carry
 * repeatable read or serializable, and behind a transaction-mode pooler the connection
 * cannot set it (session-settings.ts). The fence at the head of each transaction and the
 * push refresh's gathering locks need each statement to see what committed before it.
 *
 * It is named in the BEGIN (postgres.js's sql.begin mode), one round trip, rather than
 * through Drizzle's db.transaction(fn, { isolationLevel }), which sends BEGIN and then
 * SET TRANSACTION, each awaited. The transaction object is the one db.transaction makes
 * (a PostgresJsTransaction over the reserved connection, with the handle's schema), so
 * each transaction costs no more objects than before (docs/performance.md, 14. Transactions).
 *
 * A transaction whose connection closes under it sends nothing more and fails with the
 * connection's error (closed-transaction-guard.ts): postgres.js would otherwise write its
 * next statement, COMMIT or ROLLBACK to the closed socket and end the process.
 */
export function withTransaction<T>(db: Db, run: (tx: Db) => Promise<T>): Promise<T> {
  const guard = new ClosedTransactionGuard(db.$client);
  const transaction = db.$client.begin(READ_COMMITTED, (connection) =>
    guard.body(run(transactionHandle(db, guard.connection(connection)))),
  ) as Promise<T>;
  const named = transaction.catch((err: unknown) => {
    // Rejected while the body runs only when its connection closed.
    guard.beginSettled();
    // A connection refused or reset reaches here in Node's own words (`connect ECONNREFUSED`).
    throw asDatabaseFailure(err);
  });
  // Handled here too: a caller that awaits the transaction only later (after ending its
  // session, in a test) is told then, and its failure is never an unhandled rejection
  // meanwhile.
  named.catch(() => {});
  return named;
}

/**
 * Drizzle over `connection` (the one sql.begin reserved), with `db`'s schema: the same two
 * objects Drizzle's own db.transaction makes for each transaction, and no more.
 */
export function transactionHandle(db: Db, connection: TransactionSql): Db {
  const { fullSchema, schema, tableNamesMap } = db._;
  const relations = schema && { fullSchema, schema, tableNamesMap };
  // Drizzle's declarations want a Sql; its own db.transaction passes this TransactionSql too.
  const session = new PostgresJsSession(connection as TransactionSql & Sql, dialect, relations);
  return new PostgresJsTransaction(dialect, session, relations) as unknown as Db;
}
