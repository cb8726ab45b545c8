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
  try {
    await adminSql.unsafe(`CREATE DATABASE "${name}"`);
  } catch (err) {
    throw cannotCreateDatabase(err);
  } finally {
    // An admin connection left open would keep the test file's process alive until the
    // runner's timeout: the file must fail now, saying why.
    await adminSql.end();
  }
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

/** insufficient_privilege: the role may not create databases. */
const NO_CREATEDB = '42501';

/** The error a test file fails with when its database cannot be made, naming the fix where known. */
export function cannotCreateDatabase(err: unknown): Error {
  if ((err as { code?: unknown })?.code === NO_CREATEDB) {
    return new Error(
      'The test database role may not create databases: every test file creates its own, so the role in DATABASE_URL needs CREATEDB (ALTER ROLE <role> CREATEDB), or leave DATABASE_URL unset to use a throwaway embedded PostgreSQL',
      { cause: err },
    );
  }
  return new Error(`Could not create a test database: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/**
 * Fails before any test runs when the admin role cannot create databases, instead of
 * every test file failing on its own. Superusers and CREATEDB roles pass.
 */
export async function assertCanCreateDatabases(adminUrl: string): Promise<void> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [role] = await admin<{ allowed: boolean }[]>`
      SELECT rolcreatedb OR rolsuper AS allowed FROM pg_roles WHERE rolname = current_user`;
    if (!role?.allowed) throw cannotCreateDatabase(Object.assign(new Error('CREATEDB missing'), { code: NO_CREATEDB }));
  } finally {
    await admin.end();
  }
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
