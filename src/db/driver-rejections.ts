import type { Logger } from '../log.ts';

/**
 * postgres.js 3.4.9 drops the promise of the array-type lookup that each new connection
 * runs first (fetchArrayTypes, called from ReadyForQuery without a handler:
 * porsager/postgres#1192, #1205, #1223). When that lookup fails — PgBouncer answering
 * `server_login_retry` while PostgreSQL restarts behind it, a backend terminated while
 * the connection starts — the rejection is unhandled and Node ends the process. The soak
 * saw every replica behind PgBouncer die that way at a PostgreSQL restart. The query that
 * asked for the connection fails or succeeds on its own, so the dropped rejection carries
 * nothing to act on.
 *
 * This listener logs such rejections — a PostgresError whose stack is the driver's alone,
 * with no frame of the worker's own (a rejection of one of our queries carries the query's
 * origin in its stack) — and keeps every other unhandled rejection fatal, as Node makes it.
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
  const e = reason as { name?: string; stack?: string } | null;
  if (e?.name !== 'PostgresError' || typeof e.stack !== 'string') return false;
  const frames = e.stack.split('\n').filter((line) => /^\s+at /.test(line));
  return frames.length > 0 && frames.every((line) => /[/\\]postgres[/\\](?:src|cjs)[/\\]|\(node:|at node:/.test(line));
}
