import type { Server, ServerResponse } from 'node:http';

export interface ServerClose {
  /** Stops accepting, ends idle connections and resolves once every connection ended. Idempotent. */
  close(): Promise<void>;
  /** Call before an answer's head is written: once close() was called, the answer ends its connection. */
  beforeAnswer(res: ServerResponse): void;
}

/**
 * Closing a server whose clients keep their connections alive (Prometheus, a load balancer,
 * Luma's deliveries). server.close() waits for every connection to end, and ends only
 * those idle at that moment. A connection whose request is
 * in flight at close() would then stay open after its answer, until the keep-alive timeout
 * or, while its client keeps sending, for good, holding the replica's shutdown until the
 * grace runs out (the soak of 2026-12-07 saw a replica exit 1 so). So once close() was
 * called, every answer, to a request in flight or a new one, says `Connection: close`,
 * and Node ends the connection once it is written.
 */
export function serverClose(server: Server): ServerClose {
  let closed: Promise<void> | undefined;
  return {
    // Idempotent: the shutdown and a test may both close it.
    close: () => {
      // Node's close() (since 19) also ends the connections idle at that moment.
      closed ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
      });
      return closed;
    },
    beforeAnswer: (res) => {
      if (closed) res.setHeader('connection', 'close');
    },
  };
}
