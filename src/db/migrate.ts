import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { connectionOptions } from './connection-options.ts';

export const MIGRATIONS_FOLDER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');
/** Our bookkeeping lives in a schema of our own, apart from the directory's tables. */
export const MIGRATIONS_SCHEMA = 'luma_guest_sync';
const MIGRATIONS_TABLE = 'migrations';
/** Serialises migrators: two replicas' one-shot migrate jobs may start together. */
const MIGRATION_LOCK_KEY = 7_340_211_001;

export interface MigrationResult {
  applied: string[];
}

/**
 * Applies the pending migrations in migrations/. Every migration is idempotent and
 * safe on a live directory database; running this twice is a no-op.
 */
export async function runMigrations(databaseUrl: string): Promise<MigrationResult> {
  // One connection, so the session-level advisory lock covers the migrator's transaction.
  const sql = postgres(connectionOptions(databaseUrl, { max: 1, onnotice: () => {}, connection: { TimeZone: 'UTC' } }));
  try {
    await sql`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    const before = await appliedCount(sql);
    await migrate(drizzle(sql), {
      migrationsFolder: MIGRATIONS_FOLDER,
      migrationsSchema: MIGRATIONS_SCHEMA,
      migrationsTable: MIGRATIONS_TABLE,
    });
    const after = await appliedCount(sql);
    await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
    return { applied: migrationTags().slice(before, after) };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function appliedCount(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<{ table: string | null }[]>`
    SELECT to_regclass(${`${MIGRATIONS_SCHEMA}.${MIGRATIONS_TABLE}`})::text AS table`;
  if (!row?.table) return 0;
  const [count] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM ${sql(MIGRATIONS_SCHEMA)}.${sql(MIGRATIONS_TABLE)}`;
  return count?.n ?? 0;
}

function migrationTags(): string[] {
  const journal = JSON.parse(readFileSync(path.join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8'));
  return (journal.entries as Array<{ tag: string }>).map((entry) => entry.tag);
}
