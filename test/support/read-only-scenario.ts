import { createDatabase, type Sql } from '../../src/db/client.ts';
import { runMigrations } from '../../src/db/migrate.ts';
import { checkWritable } from '../../src/db/read-only.ts';
import { checkSchema } from '../../src/db/schema-check.ts';
import { createReadiness } from '../../src/http/readiness.ts';
import { seedLimitScenario } from './limit-scenario.ts';
import { setPushConfigs } from './seed-push.ts';
import type { useSimulatedLuma } from './sync-harness.ts';

/**
 * Migrates the directory at `url` and seeds `seedLimitScenario`'s event (five members
 * listed, each with a main team) with the push rules on: what the read-only server tests
 * (hot standby, switchover) write on the primary before its replica serves it.
 */
export async function migrateWithScenario(url: string, luma: ReturnType<typeof useSimulatedLuma>) {
  await runMigrations(url);
  const primary = createDatabase({ url, poolMax: 2 });
  try {
    await setPushConfigs(primary.db, {
      isActive: true,
      enabled: true,
      minAttendeesPerEvent: 1,
      upcomingWindowDays: 30,
    });
    return await seedLimitScenario(primary.db, luma, { listed: 5, withTeam: true });
  } finally {
    await primary.close();
  }
}

/**
 * The daemon's readiness probe with only its database checks at stake (the queue always
 * answers, no shutdown): how the read-only server tests see whether a worker is ready.
 */
export function databaseReadiness(sql: Sql) {
  return createReadiness({ sql, checkSchema, checkWritable, sqsPing: async () => {}, isShuttingDown: () => false });
}
