import { isConnectionLoss } from '../errors.ts';

/**
 * Runs a statement on the pool and, when it failed because its session ended under it,
 * runs it again, at most `repeats` (2) more times: only for a statement that is safe to
 * run twice (the claim's grant and release: a second run of one that did commit finds the
 * claim already granted or already released). Never for a statement in a transaction,
 * which a lost connection has rolled back as a whole.
 *
 * Why a repeat is needed at all: postgres.js 3.4.9 keeps the error a server ended a
 * session with ("terminating connection due to administrator command", or PgBouncer's
 * "server conn crashed?") and fails with it the first statement sent on that pool slot's
 * next connection, though that statement never reached the server
 * (node_modules/postgres/src/connection.js: `errorResponse` is cleared only by a
 * ReadyForQuery). After a sync's page connection was lost, that first statement is the
 * release of the sync's claim, which would then stay held to its lease end. Why two: a
 * statement that itself met the end of its session (sent on an idle connection whose
 * termination the pool had not read yet) leaves that stale error to its own first repeat.
 * Proved in test/sync/lost-connection-followups.test.ts.
 */
export async function repeatOnConnectionLoss<T>(run: () => Promise<T>, repeats = 2): Promise<T> {
  for (let repeat = 0; ; repeat++) {
    try {
      return await run();
    } catch (err) {
      if (repeat >= repeats || !sessionEnded(err)) throw err;
      await afterPendingCloses();
    }
  }
}

/**
 * Resolves once the event loop has handled the socket events already waiting: a network
 * reset (a failover, a NAT gateway dropping its flows) ends every connection of the pool at
 * once, but the driver learns of it socket by socket, and a connection leaves the pool's idle
 * queue only at its 'close', which Node emits in the loop's close phase, after the errors.
 * Repeated at once, the statement went to the next connection already reset, and both
 * repeats were spent within a millisecond (test/db/repeat-on-connection-loss.test.ts). A
 * timer fires in the next turn of the loop, after this turn's I/O and close phases.
 */
function afterPendingCloses(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Connection errors a repeat cannot help with: the pool itself is being closed, or
 * connecting took the whole connect timeout (a repeat would wait as long again).
 */
const NOT_REPEATED = new Set(['CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT']);

/**
 * The session ended under the statement (Drizzle wraps the driver's error, so the causes
 * are followed): the server ended it (FATAL), or its connection closed or was reset. Not a
 * connection that could not be opened (refused, a name that does not resolve): the
 * database is away, a repeat cannot reach it, and postgres.js waits longer before each
 * connect after a failed one, so repeats would only delay the failure (an outage's
 * failed deliveries, test/faults/pg-outage.test.ts).
 */
function sessionEnded(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (!isConnectionLoss(e)) continue;
    const { code, syscall } = e as { code?: unknown; syscall?: unknown };
    return !NOT_REPEATED.has(String(code)) && syscall !== 'connect' && syscall !== 'getaddrinfo';
  }
  return false;
}
