import type { Logger } from '../log.ts';

/**
 * postgres.js 3.4.9 drops the promise of the array-type lookup that each new connection
 * runs first (fetchArrayTypes, called from ReadyForQuery without a handler:
 * porsager/postgres#1192, #1205, #1223). When that lookup fails — PgBouncer answering
 * `server_login_retry` while PostgreSQL restarts behind it, a backend terminated while
 * the connection starts, a socket reset (ECONNRESET) by a failover — the rejection is
 * unhandled and Node ends the process. The soak saw every replica behind PgBouncer die
 * that way at a PostgreSQL restart. The query that asked for the connection fails or
 * succeeds on its own, so the dropped rejection carries nothing to act on.
 *
 * This listener logs such rejections and keeps every other unhandled rejection fatal, as
 * Node makes it. A rejection is the lookup's when the driver named the lookup on it (the
 * `query` it sets on every error it rejects a statement with), whatever the error: the
 * server's, the socket's or the driver's own. One without that name still counts when it
 * is a PostgresError whose stack is the driver's alone, with no frame of the worker's own
 * (a rejection of one of our queries carries the query's origin in its stack).
 */
export function surviveDriverStartupRejections(log: Logger): () => void {
  const listener = (reason: unknown) => {
    if (isDriverStartupRejection(reason)) {
      const { code, message } = reason as { code?: string; message?: string };
      log.warn({ code, reason: message }, 'a new database connection failed to start; the driver dropped the error');
      return;
    }
    // Node's own behaviour for every other one: the process ends on it.
    process.off('unhandledRejection', listener);
    throw reason;
  };
  process.on('unhandledRejection', listener);
  return () => process.off('unhandledRejection', listener);
}

export function isDriverStartupRejection(reason: unknown): boolean {
  const e = reason as { name?: string; stack?: string; query?: unknown } | null;
  if (isArrayTypeLookup(e?.query)) return true;
  if (e?.name !== 'PostgresError' || typeof e.stack !== 'string') return false;
  const frames = e.stack.split('\n').filter((line) => /^\s+at /.test(line));
  return frames.length > 0 && frames.every((line) => /[/\\]postgres[/\\](?:src|cjs)[/\\]|\(node:|at node:/.test(line));
}

/** The driver's array-type lookup (fetchArrayTypes in postgres.js's connection.js), by the text it sends. */
function isArrayTypeLookup(query: unknown): boolean {
  return typeof query === 'string' && query.includes('b.typarray') && query.includes('pg_catalog.pg_type');
}
