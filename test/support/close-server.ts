/**
 * Stops a test's HTTP server even with a request still in flight. close() alone stops
 * accepting and then waits for every open connection to end; Node closes only the idle
 * keep-alive ones itself, so a request the server holds (a hung Luma page, a delivery in
 * progress) would keep the file's teardown waiting until the runner's limit, as it once
 * did in test/ops/alert-delivery.test.ts. Destroying every connection lets it return.
 * A server a test already closed counts as closed: teardown runs after such tests too.
 */
import type { Server } from 'node:http';

export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.close((err) =>
      err && (err as NodeJS.ErrnoException).code !== 'ERR_SERVER_NOT_RUNNING' ? reject(err) : resolve(),
    );
    server.closeAllConnections();
  });
}
