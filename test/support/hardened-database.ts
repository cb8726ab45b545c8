import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import postgres from 'postgres';
import { createDatabase, type Database } from '../../src/db/client.ts';
import { createTestDatabase, type TestDatabase, withDatabase } from './db.ts';
import { testEnv } from './env.ts';
import { workerGrants } from './worker-privileges.ts';

export interface HardenedDirectory {
  /** The superuser's handle, for set-up and inspection only. */
  admin: TestDatabase;
  /** Owns the database and its schemas; runs the migrations (the directory's and ours). */
  owner: { role: string; url: string };
  /** The directory application's role: reads and writes the directory tables, as Prisma does. */
  app: { role: string; url: string; database: Database };
  /** The worker's runtime role, granted exactly workerGrants() once migrated. */
  worker: { role: string; url: string };
}

/**
 * A database set up as a careful DBA of the directory would: three login roles, nothing
 * granted to PUBLIC — no CONNECT on the database, nothing on schema public, and
 * `ALTER DEFAULT PRIVILEGES … REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC` for the owner —
 * and the app given its tables through default privileges in schema public.
 *
 * `migrate` runs as the owner before the worker's grants are applied (they name the
 * migrated objects). The roles are dropped after the file; a kept database (a failed
 * test) keeps its roles too.
 */
export async function createHardenedDirectory(
  migrate: (ownerUrl: string) => Promise<unknown>,
): Promise<HardenedDirectory> {
  const admin = await createTestDatabase({ migrate: false, label: 'hardened' });
  const suffix = randomBytes(3).toString('hex');
  const roles = { owner: `lgs_owner_${suffix}`, app: `lgs_app_${suffix}`, worker: `lgs_worker_${suffix}` };
  const password = (role: string) => `${role}-pw`;
  for (const role of Object.values(roles)) {
    await admin.sql.unsafe(`CREATE ROLE "${role}" LOGIN PASSWORD '${password(role)}'`);
  }
  const { owner, app, worker } = roles;
  const name = admin.name;
  for (const statement of [
    `REVOKE ALL ON DATABASE "${name}" FROM PUBLIC`,
    `ALTER DATABASE "${name}" OWNER TO "${owner}"`,
    `GRANT CONNECT ON DATABASE "${name}" TO "${app}", "${worker}"`,
    `ALTER SCHEMA public OWNER TO "${owner}"`,
    `REVOKE ALL ON SCHEMA public FROM PUBLIC`,
    `GRANT USAGE ON SCHEMA public TO "${app}"`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE "${owner}" REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE "${owner}" IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "${app}"`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE "${owner}" IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO "${app}"`,
  ]) {
    await admin.sql.unsafe(statement);
  }
  const urlOf = (role: string) => {
    const url = new URL(withDatabase(testEnv('adminDatabaseUrl'), name));
    url.username = role;
    url.password = password(role);
    return url.toString();
  };
  await migrate(urlOf(owner));
  // Granted by the owner, as the DBA's migration role would.
  const asOwner = postgres(urlOf(owner), { max: 1, onnotice: () => {} });
  try {
    for (const grant of workerGrants(worker)) await asOwner.unsafe(grant);
  } finally {
    await asOwner.end();
  }
  const appDatabase = createDatabase({ url: urlOf(app), poolMax: 2 });
  after(async () => {
    await appDatabase.close();
    // Runs after createTestDatabase's own clean-up dropped the database (hooks run in order).
    const cluster = postgres(testEnv('adminDatabaseUrl'), { max: 1, onnotice: () => {} });
    try {
      for (const role of [worker, app, owner]) await cluster.unsafe(`DROP ROLE IF EXISTS "${role}"`).catch(() => {});
    } finally {
      await cluster.end();
    }
  });
  return {
    admin,
    owner: { role: owner, url: urlOf(owner) },
    app: { role: app, url: urlOf(app), database: appDatabase },
    worker: { role: worker, url: urlOf(worker) },
  };
}
