import type { Db } from '../../src/db/client.ts';

export interface TransactionHooks {
  /** Awaited before the BEGIN of the handle's `n`th transaction (from 1) is sent. */
  beforeBegin?: (n: number) => Promise<void>;
  /**
   * Awaited after a statement of a transaction whose text `matches` returned its rows,
   * before the transaction's next statement: the transaction is paused there, holding
   * what it locked.
   */
  afterStatement?: { matches: (text: string) => boolean; run: () => Promise<void> };
}

type Begin = (...args: unknown[]) => Promise<unknown>;
type Unsafe = (...args: unknown[]) => PromiseLike<unknown> & { values(): unknown };

/**
 * `db` with hooks on the transactions withTransaction (src/db/transaction.ts) opens on it:
 * it opens each with `db.$client.begin` and runs Drizzle on the connection begin hands
 * it, so wrapping the client sees every BEGIN and every statement inside.
 */
export function withTransactionHooks(db: Db, hooks: TransactionHooks): Db {
  let transactions = 0;
  const connectionWithHook = (connection: object) =>
    new Proxy(connection, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        const after = hooks.afterStatement;
        if (key !== 'unsafe' || !after) return value;
        return (...args: unknown[]) => {
          const pending = (value as Unsafe)(...args);
          if (!after.matches(String(args[0]))) return pending;
          const paused = Promise.resolve(pending).then(async (rows) => {
            await after.run();
            return rows;
          });
          // Drizzle asks a typed select for its rows as arrays, before the statement runs.
          const values = () => {
            pending.values();
            return paused;
          };
          return Object.assign(paused, { values });
        };
      },
    });
  const client = new Proxy(db.$client, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (key !== 'begin') return value;
      return async (...args: unknown[]) => {
        await hooks.beforeBegin?.(++transactions);
        const run = args.pop() as (connection: object) => unknown;
        return (value as Begin).call(target, ...args, (connection: object) => run(connectionWithHook(connection)));
      };
    },
  });
  return new Proxy(db, {
    get: (target, key, receiver) => (key === '$client' ? client : Reflect.get(target, key, receiver)),
  });
}
