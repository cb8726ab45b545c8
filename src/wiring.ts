/**
 * Builders main.ts and the daemon share: each makes one external client or the sync
 * pipeline's dependencies from the config. Nothing here runs at import time.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { type Config, sqsEndpoint } from './config.ts';
import type { Database } from './db/client.ts';
import type { Logger } from './log.ts';
import { createLumaProvider } from './providers/luma.ts';
import { createRateLimiter } from './providers/rate-limit.ts';
import { createProviderRegistry, type ProviderRegistry } from './providers/registry.ts';
import type { SyncDeps, SyncObserver } from './sync/sync-event.ts';

export interface ProviderHooks {
  onRateLimited?: () => void;
  onRequest?: () => void;
}

/** Every provider the worker knows, keyed by ExternalEventProvider. Adding one is one line here. */
export function createProviders(config: Readonly<Config>, log: Logger, hooks: ProviderHooks = {}): ProviderRegistry {
  // One budget per process, shared by every concurrent sync on the same Luma key.
  const limiter = createRateLimiter({ perMinute: config.luma.rateLimitPerMinute });
  return createProviderRegistry([
    createLumaProvider({ config: config.luma, limiter, log: log.child({ component: 'LumaApiService' }), ...hooks }),
  ]);
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
  };
}

/** The SQS client; credentials come from the SDK's default chain (task role, IRSA, env). */
export function createSqsClient(config: Readonly<Config>): SQSClient {
  return new SQSClient({ region: config.aws.region, endpoint: sqsEndpoint(config) });
}
