import { randomBytes } from 'node:crypto';
import { after, afterEach } from 'node:test';
import postgres from 'postgres';
import { createDatabase, type Database } from '../../src/db/client.ts';
import { runMigrations } from '../../src/db/migrate.ts';
import { testEnv } from './env.ts';

export interface TestDatabase extends Database {
  url: string;
  name: string;
}

/**
 * A fresh database of its own for the calling test file, migrated unless told not
 * to. Dropped after the file when every test passed; kept for inspection when one
 * failed (its name is printed).
 */
export async function createTestDatabase(options: { migrate?: boolean; label?: string } = {}): Promise<TestDatabase> {
  const admin = testEnv('adminDatabaseUrl');
  const name = `lgs_${(options.label ?? 'test').replace(/\W/g, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const adminSql = postgres(admin, { max: 1, onnotice: () => {} });
  await adminSql.unsafe(`CREATE DATABASE "${name}"`);
  await adminSql.end();
  const url = withDatabase(admin, name);
  if (options.migrate !== false) await runMigrations(url);
  const database = createDatabase({ url, poolMax: 10 });

  let failed = false;
  afterEach((t) => {
    // TestContext.passed exists at run time (Node >= 21.7) but not yet in @types/node.
    if ((t as { passed?: boolean }).passed === false) failed = true;
  });
  after(async () => {
    await database.close();
    if (failed) {
      console.error(`# kept database ${name} of a failed test for inspection`);
      return;
    }
    const cleanup = postgres(admin, { max: 1, onnotice: () => {} });
    await cleanup.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await cleanup.end();
  });
  return { ...database, url, name };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
