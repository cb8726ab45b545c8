import type { Db } from './client.ts';

/**
 * Runs `run` in one transaction on one pooled connection, committed when it resolves,
 * rolled back when it throws. The statement helpers take a Db and use only the query
 * builder and execute(), which a Drizzle transaction has too (it lacks only $client,
 * which no helper run in a transaction uses: executePrepared is for the page statement).
 */
export function withTransaction<T>(db: Db, run: (tx: Db) => Promise<T>): Promise<T> {
  return db.transaction((tx) => run(tx as unknown as Db));
}
