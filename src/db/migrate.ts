import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type SQL, sql as sqlTag } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { PgDialect } from 'drizzle-orm/pg-core';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Db } from './client.ts';
import { connectionOptions } from './connection-options.ts';
import { watchPoolCloses } from './pool-closes.ts';
import * as schema from './schema.ts';
import { withTransaction } from './transaction.ts';

export const MIGRATIONS_FOLDER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');
/** Our bookkeeping lives in a schema of our own, apart from the directory's tables. */
export const MIGRATIONS_SCHEMA = 'luma_guest_sync';
const MIGRATIONS_TABLE = 'migrations';
/** Serialises migrators: two replicas' one-shot migrate jobs may start together. */
export const MIGRATION_LOCK_KEY = 7_340_211_001;

export interface MigrationResult {
  applied: string[];
}

/**
 * Applies the pending migrations in migrations/. Every migration is idempotent and
 * safe on a live directory database; running this twice is a no-op.
 *
 * Everything runs in one transaction that first takes a transaction-scoped advisory
 * lock, so two migrators (two replicas' one-shot jobs started together) apply each
 * migration once. Transaction-scoped state is all a transaction-mode pooler (PgBouncer,
 * RDS Proxy) keeps: a session lock taken through one would stay on whichever server
 * connection ran it, and its unlock could land on another. Unprepared for the same reason.
 *
 * The transaction is the sync's own (withTransaction): a session that ends under it (a
 * restart or failover while a deploy's migrate job runs) fails the migration with the
 * connection's error, where the driver alone would write the ROLLBACK to the closed
 * socket and end the process with a TypeError (test/db/migrate-connection-loss.test.ts).
 */
export async function runMigrations(databaseUrl: string): Promise<MigrationResult> {
  let closed = () => {};
  const sql = postgres(
    connectionOptions(databaseUrl, {
      max: 1,
      prepare: false,
      onnotice: () => {},
      onclose: () => closed(),
      connection: { TimeZone: 'UTC' },
    }),
  );
  // What the transaction's guard learns a close from (pool-closes.ts), as createDatabase does.
  closed = watchPoolCloses(sql);
  try {
    const db = drizzle(sql, { schema }) as Db;
    const migrations = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER });
    return await withTransaction(db, async (tx) => {
      await tx.execute(sqlTag`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
      const before = await appliedCount(tx);
      // Drizzle's own migration step, run inside this transaction: it asks its session for
      // a transaction of its own, and gets this one.
      const session = {
        execute: (query: SQL) => tx.execute(query),
        all: (query: SQL) => tx.execute(query),
        transaction: (run: (inner: typeof tx) => Promise<unknown>) => run(tx),
      };
      await new PgDialect().migrate(migrations, session as never, {
        migrationsFolder: MIGRATIONS_FOLDER,
        migrationsSchema: MIGRATIONS_SCHEMA,
        migrationsTable: MIGRATIONS_TABLE,
      });
      const after = await appliedCount(tx);
      return { applied: migrationTags().slice(before, after) };
    });
  } finally {
    // The transaction has ended, so no statement of ours is in flight: the pool's end can
    // wait only for a connection lost under the transaction, which the driver ends only
    // when its reservation is handed back, and the guard never hands it back.
    await sql.end({ timeout: 1 });
  }
}

async function appliedCount(tx: { execute: PostgresJsDatabase['execute'] }): Promise<number> {
  const [row] = await tx.execute<{ table: string | null }>(
    sqlTag`SELECT to_regclass(${`${MIGRATIONS_SCHEMA}.${MIGRATIONS_TABLE}`})::text AS table`,
  );
  if (!row?.table) return 0;
  const [count] = await tx.execute<{ n: number }>(
    sqlTag`SELECT count(*)::int AS n FROM ${sqlTag.identifier(MIGRATIONS_SCHEMA)}.${sqlTag.identifier(MIGRATIONS_TABLE)}`,
  );
  return count?.n ?? 0;
}

/** Every migration's tag, in order, from Drizzle's journal. */
export function migrationTags(): string[] {
  const journal = JSON.parse(readFileSync(path.join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8'));
  return (journal.entries as Array<{ tag: string }>).map((entry) => entry.tag);
}
