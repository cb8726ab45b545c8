import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { asDatabaseFailure } from '../errors.ts';
import { connectionOptions } from './connection-options.ts';
import { describeDatabaseTarget, parseDatabaseUrl } from './database-url.ts';
import { watchPoolCloses } from './pool-closes.ts';
import { DEFAULT_CONNECT_TIMEOUT_SECONDS } from './probe.ts';
import { type ReadOnlyRound, watchReadOnlySessions } from './read-only-sessions.ts';
import { reconnectBackoff } from './reconnect-backoff.ts';
import * as schema from './schema.ts';
import { sessionSettings } from './session-settings.ts';

export type Sql = postgres.Sql;
/** How DATABASE_URL reaches PostgreSQL: directly (or through a session-mode pooler), or through a transaction-mode pooler. */
export type Pooler = 'none' | 'transaction';
export type Db = PostgresJsDatabase<typeof schema> & { $client: Sql };

/** A database handle: Drizzle for typed queries, the postgres.js client for the few raw statements. */
export interface Database {
  db: Db;
  sql: Sql;
  /**
   * Ends the pool: waits up to `timeoutSeconds` (5) for statements in flight, then closes
   * their connections and rejects them.
   */
  close(timeoutSeconds?: number): Promise<void>;
}

export interface DatabaseOptions {
  url: string;
  poolMax: number;
  /**
   * "transaction" behind a transaction-mode pooler (PgBouncer, RDS Proxy), where nothing
   * of a session outlives a transaction: statements go unnamed (parsed and planned every
   * time).
   */
  pooler?: Pooler;
  /** Closes a pooled connection idle this long (30 s; tests shrink it). */
  idleTimeoutSeconds?: number;
  /** The server ends a session idle inside a transaction this long (60 s; direct connections only; session-settings.ts). */
  idleInTransactionSeconds?: number;
  /** Called for every statement sent; benchmarks count statements per page with it. */
  onQuery?: (query: string) => void;
  /** Told of every round that ended read-only sessions of the pool (read-only-sessions.ts), for the log. */
  onReadOnlyRound?: (round: ReadOnlyRound) => void;
}

export function createDatabase(options: DatabaseOptions): Database {
  let closed = () => {};
  const sql: Sql = postgres(
    connectionOptions(options.url, {
      max: options.poolMax,
      // TIMESTAMP(3) WITHOUT TIME ZONE holds UTC in this schema.
      connection: {
        TimeZone: 'UTC',
        application_name: 'luma-guest-sync',
        ...sessionSettings(options.pooler, options.idleInTransactionSeconds),
      },
      onnotice: () => {},
      onclose: () => closed(),
      debug: options.onQuery ? (_connection, query) => options.onQuery?.(query) : undefined,
      idle_timeout: options.idleTimeoutSeconds ?? 30,
      prepare: options.pooler !== 'transaction',
      connect_timeout: DEFAULT_CONNECT_TIMEOUT_SECONDS,
      // Capped at 2 s: one network reset of the whole pool made the driver's own curve wait 10–20 s.
      backoff: reconnectBackoff,
    }),
  );
  closed = watchPoolCloses(sql);
  watchReadOnlySessions(sql, { pooler: options.pooler ?? 'none', onRound: options.onReadOnlyRound });
  const db = drizzle(sql, { schema }) as Db;
  return { db, sql, close: (timeoutSeconds = 5) => sql.end({ timeout: timeoutSeconds }) };
}

/** The connection URL as people may see it: where it leads, never its password. */
export function redactDatabaseUrl(url: string): string {
  try {
    return describeDatabaseTarget(parseDatabaseUrl(url));
  } catch {
    return '<unparseable database url>';
  }
}

const dialect = new PgDialect();

/**
 * Runs a Drizzle SQL statement as a prepared statement, which postgres.js keeps per
 * connection: for the statement a sync runs once per page, parsing and planning it once
 * instead of every page measurably lowers the cost of a page. `db.execute` never prepares.
 * A handle made for a transaction-mode pooler runs it unprepared instead. `on` is a
 * connection reserved from the handle's pool (page-connection.ts); the pool by default.
 * A failure of the socket itself is wrapped (DatabaseSocketError), as Drizzle would have.
 */
export function executePrepared<T>(db: Db, query: SQL, on: Pick<Sql, 'unsafe'> = db.$client): Promise<T[]> {
  const { sql: text, params } = dialect.sqlToQuery(query);
  const prepare = db.$client.options.prepare !== false;
  const answer = on.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare }) as unknown as Promise<T[]>;
  return answer.catch((err: unknown) => {
    throw asDatabaseFailure(err);
  });
}
