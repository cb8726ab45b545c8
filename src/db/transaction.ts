import type { Db } from './client.ts';

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
 */
export function withTransaction<T>(db: Db, run: (tx: Db) => Promise<T>): Promise<T> {
  return db.transaction((tx) => run(tx as unknown as Db), { isolationLevel: 'read committed' });
}
