import { after } from 'node:test';
import { setupServer } from 'msw/node';
import { loadConfig } from '../../src/config/config.ts';
import type { Db } from '../../src/db/client.ts';
import { createLumaHandlers, type LumaSimulatorOptions, SIM_API_KEY } from '../../src/local/luma-simulator.ts';
import { silentLogger } from '../../src/log.ts';
import { createLumaProvider } from '../../src/providers/luma.ts';
import { createRateLimiter } from '../../src/providers/rate-limit.ts';
import { createProviderRegistry } from '../../src/providers/registry.ts';
import type { SyncDeps } from '../../src/sync/sync-event.ts';

/**
 * Luma at the HTTP boundary for a test file: msw intercepts requests to the default
 * Luma host and answers with the simulator's handlers. Closed after the file.
 */
export function useSimulatedLuma() {
  const server = setupServer();
  server.listen({ onUnhandledFrame: 'error' });
  after(() => server.close());
  return {
    /** Serves these guest lists (and options) from now on; returns the request stats. */
    serve(options: Omit<LumaSimulatorOptions, 'apiKey'>) {
      const handlers = createLumaHandlers({ apiKey: SIM_API_KEY, ...options });
      server.resetHandlers(...handlers);
      return handlers.stats;
    },
  };
}

/** Everything syncEvent needs, wired the way main.ts wires it, with time made fast. */
export function syncDeps(
  db: Db,
  overrides: { pageSize?: number; guestsPath?: string; maxWaitInSyncSeconds?: number } & Partial<SyncDeps> = {},
): SyncDeps {
  const { pageSize, guestsPath, maxWaitInSyncSeconds, ...rest } = overrides;
  const base = loadConfig({ LUMA_API_KEY: SIM_API_KEY }).luma;
  const config = {
    ...base,
    pageSize: pageSize ?? base.pageSize,
    guestsPath: guestsPath ?? base.guestsPath,
    maxWaitInSyncSeconds: maxWaitInSyncSeconds ?? base.maxWaitInSyncSeconds,
  };
  const provider = createLumaProvider({
    config,
    limiter: createRateLimiter({ perMinute: 1_000_000 }),
    log: silentLogger,
    sleep: async () => {},
  });
  return { db, providers: createProviderRegistry([provider]), log: silentLogger, ...rest };
}
