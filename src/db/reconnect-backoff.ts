/** The longest a pooled connection waits before it connects again after its socket failed. */
export const MAX_RECONNECT_WAIT_SECONDS = 2;

/**
 * How long (seconds) a pooled connection waits before connecting again after its socket
 * failed: postgres.js's `backoff` option, given the pool's count of failures.
 *
 * The driver's own curve is 0.5–1 × min(3^failures / 100, 20) s, and it counts failures for
 * the whole pool (back to 0 once a connection starts): every connection that one network
 * reset ends (a failover, a NAT gateway or load balancer dropping its flows) counts one
 * more, so with eight connections reset together the last ones wait 10–20 s, and a statement
 * handed to one of them waits with it, while the database is up and the pool's other
 * connections are free (test/db/reconnect-backoff.test.ts). The same curve, capped at 2 s:
 * a database that is really down is tried again by each connection with work waiting at
 * most every 1–2 s (a replica's pool is 10 connections: a few attempts a second, nothing
 * for a server or a pooler), and the jitter keeps them apart.
 */
export function reconnectBackoff(failures: number): number {
  return (0.5 + Math.random() / 2) * Math.min(3 ** failures / 100, MAX_RECONNECT_WAIT_SECONDS);
}
