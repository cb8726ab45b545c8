import { after } from 'node:test';
import { type LocalPgBouncer, type PgBouncerSettings, startPgBouncer } from '../../src/local/pgbouncer.ts';
import { withDatabase } from './db.ts';
import { testEnv } from './env.ts';

/**
 * The URL of `database` (a test database's name) through the PgBouncer that `npm test`
 * starts once, in transaction mode with PgBouncer's stock timeouts.
 */
export function viaPgBouncer(database: string): string {
  return withDatabase(testEnv('pgbouncerUrl'), database);
}

/**
 * The two ways a test reaches `database`: directly, and through the shared PgBouncer in
 * transaction mode, each with the `pooler` setting the worker's pool takes for it. For the
 * tests whose promise must hold both ways; the URL is read when the case runs.
 */
export function databaseRoutes(database: { url: string; name: string }) {
  return [
    { route: 'directly', url: () => database.url, pooler: 'none' },
    { route: 'through PgBouncer', url: () => viaPgBouncer(database.name), pooler: 'transaction' },
  ] as const;
}

/**
 * A PgBouncer of the calling test file's own, for settings the shared one lacks (short
 * idle timeouts) or for stopping and restarting it; stopped after the file.
 */
export async function startTestPgBouncer(settings: PgBouncerSettings = {}): Promise<LocalPgBouncer> {
  const bouncer = await startPgBouncer(testEnv('adminDatabaseUrl'), settings);
  after(() => bouncer.stop());
  return bouncer;
}
