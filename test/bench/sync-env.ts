import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { loadConfig } from '../../src/config/config.ts';
import { createDatabase, type Database } from '../../src/db/client.ts';
import { runMigrations } from '../../src/db/migrate.ts';
import type { LumaSimulatorOptions, LumaSimulatorStats } from '../../src/local/luma-simulator.ts';
import { SIM_API_KEY } from '../../src/local/luma-simulator.ts';
import { silentLogger } from '../../src/log.ts';
import { createLumaProvider } from '../../src/providers/luma.ts';
import { createRateLimiter, type RequestBudget } from '../../src/providers/rate-limit.ts';
import { createProviderRegistry } from '../../src/providers/registry.ts';
import type { SyncDeps } from '../../src/sync/sync-event.ts';
import { cannotCreateDatabase, withDatabase } from '../support/db.ts';
import { seedBenchEvent } from './seed-bulk.ts';

const LUMA_PROCESS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'luma-process.ts');

/**
 * A fresh database for one benchmark run, migrated; dropped by drop(). With `pooledUrl`
 * (a transaction-mode PgBouncer in front of adminUrl's server), its handle goes through
 * that pooler, as DATABASE_POOLER=transaction makes it.
 */
export async function createBenchDatabase(
  adminUrl: string,
  options: { pooledUrl?: string } = {},
): Promise<Database & { url: string; drop(): Promise<void> }> {
  const name = `lgs_bench_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } catch (err) {
    await admin.end();
    throw cannotCreateDatabase(err);
  }
  const url = withDatabase(adminUrl, name);
  await runMigrations(url);
  const database = options.pooledUrl
    ? createDatabase({ url: withDatabase(options.pooledUrl, name), poolMax: 4, pooler: 'transaction' })
    : createDatabase({ url, poolMax: 4 });
  return {
    ...database,
    url,
    async drop() {
      await database.close();
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** A simulated Luma over real HTTP, in a child process of its own; `stats()` reads its counters. */
export async function startSimulatedLuma(
  options: Omit<LumaSimulatorOptions, 'apiKey' | 'onRequest'> & { recordArrivals?: boolean },
) {
  const child = spawn(process.execPath, [LUMA_PROCESS, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const { url, statsUrl } = JSON.parse(line) as { url: string; statsUrl: string };
  return {
    url,
    stats: async () => (await (await fetch(statsUrl)).json()) as LumaSimulatorStats & { arrivals?: number[] },
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

export function benchSyncDeps(
  db: Database['db'],
  lumaUrl: string,
  options: { pageSize?: number; limiter?: RequestBudget } = {},
): SyncDeps {
  const config = {
    ...loadConfig({ LUMA_API_KEY: SIM_API_KEY, LUMA_API_URL: lumaUrl }).luma,
    pageSize: options.pageSize ?? 100,
  };
  const provider = createLumaProvider({
    config,
    limiter: options.limiter ?? createRateLimiter({ perMinute: 1_000_000 }),
    log: silentLogger,
  });
  return { db, providers: createProviderRegistry([provider]), log: silentLogger };
}

let events = 0;
/** A new syncable event for simulated Luma event `externalEventId`; returns its sync message. */
export async function benchEvent(sql: Database['sql'], externalEventId: string) {
  const uid = `bench-evt-${process.pid}-${++events}-${randomBytes(3).toString('hex')}`;
  await seedBenchEvent(sql, uid, externalEventId);
  return { eventUid: uid, externalEventId, locationUid: 'bench-loc', providerType: 'LUMA' as const };
}
