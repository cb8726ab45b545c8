/**
 * Builders main.ts and the daemon share: each makes one external client or the sync
 * pipeline's dependencies from the config. Nothing here runs at import time.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { awsRegionOf, type Config, sqsEndpoint } from './config/config.ts';
import type { Database } from './db/client.ts';
import type { Logger } from './log.ts';
import { createLumaProvider } from './providers/luma.ts';
import { createRateLimiter, type RequestBudget } from './providers/rate-limit.ts';
import { createProviderRegistry, type ProviderRegistry } from './providers/registry.ts';
import { createSharedBudget, sharedBudgetKey } from './providers/shared-budget.ts';
import type { SyncDeps, SyncObserver } from './sync/sync-event.ts';

export interface ProviderHooks {
  onRateLimited?: () => void;
  onRequest?: () => void;
  onRetry?: (kind: string) => void;
}

/** Every provider the worker knows, keyed by ExternalEventProvider. Adding one is one line here. */
export function createProviders(
  config: Readonly<Config>,
  database: Pick<Database, 'sql'>,
  log: Logger,
  hooks: ProviderHooks = {},
): ProviderRegistry {
  const lumaLog = log.child({ component: 'LumaApiService' });
  return createProviderRegistry([
    createLumaProvider({
      config: config.luma,
      limiter: createLumaBudget(config, database, lumaLog),
      log: lumaLog,
      ...hooks,
    }),
  ]);
}

/**
 * The request budget of the Luma key, shared by every concurrent sync of this process and,
 * with the "shared" scope, by every replica on the same key: Luma counts per key, and one
 * 429 blocks the key for a minute.
 */
export function createLumaBudget(
  config: Readonly<Config>,
  database: Pick<Database, 'sql'>,
  log: Logger,
): RequestBudget {
  const { rateLimitPerMinute: perMinute, rateLimitWindowMs: windowMs } = config.luma;
  // A request lasts at most its timeout: a grant whose end is never reported counts that long.
  const holdMs = config.luma.requestTimeoutMs;
  if (config.luma.rateLimitScope === 'process') return createRateLimiter({ perMinute, windowMs, holdMs });
  const key = sharedBudgetKey('LUMA', config.luma.apiKey);
  return createSharedBudget({ sql: database.sql, key, perMinute, windowMs, holdMs, log });
}

export function createSyncDeps(
  config: Readonly<Config>,
  database: Database,
  providers: ProviderRegistry,
  log: Logger,
  observer?: SyncObserver,
): SyncDeps {
  return {
    db: database.db,
    providers,
    log,
    observer,
    removeStale: { enabled: config.removeStale, maxShare: config.removeStaleMaxShare },
    claim: { leaseSeconds: config.claim.leaseSeconds },
  };
}

/**
 * The SQS client; credentials come from the SDK's default chain (task role, IRSA, env), and
 * so does the region when neither AWS_REGION nor AWS_DEFAULT_REGION is set (see awsRegionOf).
 */
export function createSqsClient(config: Readonly<Config>): SQSClient {
  return new SQSClient({ region: awsRegionOf(config), endpoint: sqsEndpoint(config) });
}
