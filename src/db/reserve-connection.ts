import type postgres from 'postgres';
import { asDatabaseFailure } from '../errors.ts';
import type { Sql } from './client.ts';
import { onPoolClose } from './pool-closes.ts';

/**
 * A connection reserved from `sql`'s pool, as `sql.reserve()`, but never lost to a
 * reconnection: postgres.js 3.4.9 hands a waiting reservation to the next connection
 * that closes and reconnects, and that reconnection's array-types lookup drops it, so it
 * never resolves (docs/driver-workarounds.md). A sync whose page statement waited on such
 * a reservation hung for good, its claim renewed all the while.
 *
 * So each time a connection of the pool closes while the reservation waits, it is asked
 * for again (after the driver's close handling, which must not be re-entered). Every ask
 * still waiting keeps its place; the first served is the reservation, and any served
 * after it is released at once. The first ask that fails (the pool cannot connect) fails
 * the reservation, and nothing more is asked: a pool that cannot connect closes a
 * connection at each try, and would otherwise be asked again without end.
 */
export function reserveConnection(sql: Sql): Promise<postgres.ReservedSql> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const stopListening = onPoolClose(sql, () => {
      if (!settled) setImmediate(ask);
    });
    const settle = () => {
      settled = true;
      stopListening();
    };
    function ask() {
      if (settled) return;
      sql.reserve().then(
        (connection) => {
          if (settled) return connection.release();
          settle();
          resolve(connection);
        },
        (err: unknown) => {
          if (settled) return;
          settle();
          // The driver passes a socket's own error on (`connect ECONNREFUSED`).
          reject(asDatabaseFailure(err));
        },
      );
    }
    ask();
  });
}
