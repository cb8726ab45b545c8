/**
 * postgres.js 3.4.9 loses a statement handed to a connection between its socket's 'error'
 * and 'close' events. Node emits 'error' on the next tick and 'close' only once the handle
 * has closed, in a later phase of the event loop; in between the connection still sits in
 * the pool's idle queue. A statement sent then is written to the dead socket and kept as the
 * connection's statement in flight, and the close, with a socket error, fails nothing
 * (`!hadError && … error(…)`): the driver takes the error event to have failed everything
 * already. The statement never settles, and the connection carries it into its next
 * session, where every later statement waits behind an answer that never comes. A network
 * reset of the pool (a failover, a NAT gateway dropping its flows) makes exactly this
 * window: the soak of 2026-12-07 lost a replica's sync so, and its shutdown with it.
 * deploy/postgres-driver-fix.mjs makes the close fail it (docs/driver-workarounds.md).
 *
 * Forced on the installed driver: the test gives the driver a socket of its own (the
 * driver's `socket` option), fails it as a reset does, and sends the statement from its
 * own 'error' listener, which runs after the driver's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestDatabase } from '../support/db.ts';
import { within } from '../support/faults.ts';
import { poolWithOwnSockets } from '../support/own-socket-pool.ts';
import { databaseRoutes } from '../support/pgbouncer.ts';

const database = await createTestDatabase({ label: 'driver_lost_statement', migrate: false });

/** The error Node fails a socket with when its peer resets it. */
const readReset = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' });

describe('a statement sent between a socket error and its close, with deploy/postgres-driver-fix.mjs applied', () => {
  for (const { route, url, pooler } of databaseRoutes(database)) {
    const behindPooler = pooler === 'transaction';
    it(`${route}: fails as a lost connection, and the connection's next session answers`, async () => {
      const { sql, sockets } = poolWithOwnSockets(url(), behindPooler);
      await sql`SELECT 1`;
      const first = sockets[0]!;

      // Wrapped: a statement is a promise, which resolve() would wait for.
      const sent = new Promise<{ statement: Promise<unknown> }>((resolve) => {
        first.once('error', () => resolve({ statement: sql`SELECT 2`.execute() }));
      });
      first.destroy(readReset());
      const { statement } = await sent;

      // Unfixed: never settles.
      const outcome = await within(
        'the statement sent on the dead connection to settle',
        statement.then(
          () => 'answered',
          (err: { code?: string }) => err.code,
        ),
        5_000,
      );
      assert.equal(outcome, 'CONNECTION_CLOSED');
      // Unfixed: waits behind the lost statement for good.
      const answer = await within('the next statement to be answered', sql<{ n: number }[]>`SELECT 3 AS n`, 5_000);
      assert.equal(answer[0]?.n, 3);
      assert.equal(sockets.length, 2, 'a new connection served it');
    });

    it(`${route}: leaves no failed statement behind that would hold the pool's end`, async () => {
      // A connection keeps its statement in flight until the next ReadyForQuery; one that
      // failed with its socket stayed there after the close, and ending the pool waited
      // for it to its timeout (the worker's shutdown: 5 s more after any network reset).
      const { sql, sockets } = poolWithOwnSockets(url(), behindPooler);
      await sql`SELECT 1`;
      const failed = sql`SELECT pg_sleep(10)`.execute();
      await new Promise((resolve) => setTimeout(resolve, 50));
      sockets[0]!.destroy(readReset());
      await assert.rejects(failed, (err: { code?: string }) => err.code === 'ECONNRESET');
      await within('the pool to end', sql.end({ timeout: 20 }), 5_000);
    });
  }
});
