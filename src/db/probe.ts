import postgres from 'postgres';
import type { Pooler } from './client.ts';
import { connectionOptions } from './connection-options.ts';
import { parseDatabaseUrl } from './database-url.ts';
import { isRefusedStartupSetting, sessionSettings } from './session-settings.ts';

/** The worker's connect timeout when DATABASE_URL sets no connect_timeout (client.ts uses it too). */
export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;

/**
 * The database endpoint took its connection but never completed PostgreSQL's start-up
 * in time. The message names the endpoint (never the password) and DATABASE_URL.
 */
export class DatabaseUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseUnreachableError';
  }
}

/**
 * DATABASE_POOLER=none, and the endpoint refused the direct connection's startup setting:
 * a transaction-mode pooler (PgBouncer) is in between.
 */
export class DatabasePoolerMismatchError extends Error {
  constructor(cause: unknown) {
    super(
      `the database endpoint refused a startup setting (${(cause as Error)?.message ?? String(cause)}): it is a transaction-mode pooler such as PgBouncer, which DATABASE_POOLER=none cannot use — set DATABASE_POOLER=transaction (docs/poolers.md)`,
      { cause },
    );
    this.name = 'DatabasePoolerMismatchError';
  }
}

/** Any other failure of the probe; its cause is the server's or the socket's error. */
export class DatabaseProbeError extends Error {
  constructor(cause: unknown) {
    super(`could not reach the database: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'DatabaseProbeError';
  }
}

/**
 * Reaches the database once — connect, start-up, `SELECT 1` — on a connection of its own,
 * within the connect timeout, and closes it either way. Resolves when the database
 * answered; rejects with the server's or the socket's error, or DatabaseUnreachableError.
 *
 * Why a probe of its own: postgres.js 3.4.9 never fails a query when the endpoint accepts
 * the TCP connection and closes it before start-up (a proxy or load balancer with no
 * backend, a wrong port): it reconnects at once, hundreds of times a second, restarting
 * its connect timer each time, and the query waits forever. Ending the probe's own client
 * stops that loop; the worker's pool is opened only once the probe passed.
 */
export async function probeDatabase(url: string, options: { timeoutMs?: number; pooler?: Pooler } = {}): Promise<void> {
  const target = parseDatabaseUrl(url);
  const seconds = target.connectTimeoutSeconds ?? DEFAULT_CONNECT_TIMEOUT_SECONDS;
  const timeoutMs = options.timeoutMs ?? seconds * 1000;
  const where = target.socketDir ? `${target.socketDir}/.s.PGSQL.${target.port}` : `${target.host}:${target.port}`;
  const sql = postgres(
    connectionOptions(url, {
      max: 1,
      onnotice: () => {},
      connect_timeout: timeoutMs / 1000,
      fetch_types: false,
      // Unnamed statements: safe behind a transaction-mode pooler too.
      prepare: false,
      // The pool's startup settings: a transaction-mode pooler refuses them here, at start.
      connection: sessionSettings(options.pooler),
    }),
  );
  let timer: NodeJS.Timeout | undefined;
  // A little later than postgres.js's own connect timeout, which fires for an endpoint
  // that stays silent (CONNECT_TIMEOUT): reaching this one means the endpoint kept closing.
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new DatabaseUnreachableError(
            `cannot reach the database at ${where} within ${timeoutMs / 1000} s: it accepts connections and closes them before PostgreSQL's start-up completes (not a PostgreSQL server, or a proxy with no backend) — check the host and port in DATABASE_URL`,
          ),
        ),
      timeoutMs + 500,
    );
  });
  try {
    await Promise.race([sql`SELECT 1`, deadline]);
  } catch (err) {
    if ((err as { code?: string }).code === 'ECONNRESET') {
      throw new DatabaseUnreachableError(
        `cannot reach the database at ${where}: it accepted the connection and reset it before PostgreSQL's start-up completed (not a PostgreSQL server, or a proxy with no backend) — check the host and port in DATABASE_URL`,
      );
    }
    if ((err as { code?: string }).code === 'CONNECT_TIMEOUT') {
      throw new DatabaseUnreachableError(
        `cannot reach the database at ${where} within ${timeoutMs / 1000} s: it accepted the connection and never answered — check the host and port in DATABASE_URL (and that nothing between holds the connection)`,
      );
    }
    if (options.pooler !== 'transaction' && isRefusedStartupSetting(err)) throw new DatabasePoolerMismatchError(err);
    // The server's or the socket's own error, explained by explain-error.ts as the database's.
    throw new DatabaseProbeError(err);
  } finally {
    clearTimeout(timer);
    await sql.end({ timeout: 0 });
  }
}
