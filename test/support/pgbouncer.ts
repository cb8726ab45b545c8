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
 * A PgBouncer of the calling test file's own, for settings the shared one lacks (short
 * idle timeouts) or for stopping and restarting it; stopped after the file.
 */
export async function startTestPgBouncer(settings: PgBouncerSettings = {}): Promise<LocalPgBouncer> {
  const bouncer = await startPgBouncer(testEnv('adminDatabaseUrl'), settings);
  after(() => bouncer.stop());
  return bouncer;
}
