import convict from 'convict';
import type { Pooler } from '../db/client.ts';
import { claimLeaseProblem } from './claim-timing.ts';
import { cronExpression, strictBoolean } from './formats.ts';
import { schema, schemaLeaves } from './variables.ts';

export { schema, schemaLeaves };

/**
 * Every setting of the worker, read from environment variables only.
 * `loadConfig(env)` is pure: it validates, reports every bad variable at once, and returns
 * a frozen plain object. Nothing else in the project reads process.env.
 */

convict.addFormat(strictBoolean);
convict.addFormat(cronExpression);

export interface Config {
  enabled: boolean;
  cron: string;
  /** How late a cron firing may still run, in seconds. */
  cronCatchUpSeconds: number;
  /** SendMessageBatch calls the scheduler keeps in flight at once. */
  enqueueConcurrency: number;
  /** A syncable event whose last success is older than this is overdue (metrics, `status`). */
  overdueAfterHours: number;
  removeStale: boolean;
  removeStaleMaxShare: number;
  /** The per-event claim of src/sync/claim.ts: its lease, in seconds. */
  claim: { leaseSeconds: number };
  /** Sync history: one row per attempt in luma_guest_sync.sync_history. */
  history: { retentionDays: number };
  /** The opt-in freshness schedule (src/schedule/tier-schedule.ts). */
  tiers: { enabled: boolean; schedule: string; tickMinutes: number; budgetShare: number };
  consumer: { enabled: boolean; concurrency: number; visibilityTimeoutSeconds: number; waitTimeSeconds: number };
  queue: { name: string; url: string; poisonUrl: string };
  luma: {
    apiUrl: string;
    apiKey: string;
    guestsPath: string;
    pageSize: number;
    maxPages: number;
    requestTimeoutMs: number;
    rateLimitPerMinute: number;
    /** "shared": one budget for every replica on the key, kept in the database; "process": one per process. */
    rateLimitScope: 'shared' | 'process';
    rateLimitWindowMs: number;
    rateLimitRetries: number;
    rateLimitWaitSeconds: number;
    /** A Retry-After or backoff longer than this ends the sync with SyncDeferredError instead of a sleep. */
    maxWaitInSyncSeconds: number;
    /** In-process retries of a transient failure (not counting 429s, see rateLimitRetries). */
    retries: number;
    retryBaseMs: number;
    retryMaxMs: number;
    /** Responses larger than this are aborted while streaming. */
    maxResponseBytes: number;
  };
  /** The opt-in Luma webhook receiver (src/webhooks/). */
  webhook: {
    enabled: boolean;
    port: number;
    secret: string;
    debounceSeconds: number;
    maxPerEventPerHour: number;
    maxPerMinute: number;
    /** Serve without a secret (nothing verified): an explicit opt-in. */
    allowUnsigned: boolean;
    maxLookupsPerMinute: number;
    /** Share of the Luma budget webhook-triggered syncs may be planned to spend. */
    budgetShare: number;
  };
  /** pooler: "transaction" behind PgBouncer or RDS Proxy in transaction mode (docs/poolers.md). */
  database: { url: string; poolMax: number; pooler: Pooler };
  /** region and defaultRegion may be empty: the AWS SDK then resolves the region itself. */
  aws: { region: string; defaultRegion: string; sqsEndpoint: string; endpoint: string };
  log: { level: string; pretty: boolean };
  http: { port: number };
  shutdownGraceMs: number;
}

/** Thrown by loadConfig; its message names every bad variable. */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const envByPath = new Map(schemaLeaves().map((leaf) => [leaf.path, leaf.env]));

/**
 * Reads and validates the configuration from `env`. Throws ConfigError naming
 * every bad variable; secrets never appear in the message.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const problems: string[] = [];
  // convict reads env through its own option; we pass only the variables it knows,
  // with surrounding whitespace trimmed (a stray newline in a secret store is common).
  const known: Record<string, string> = {};
  for (const name of envByPath.values()) {
    const raw = env[name];
    if (raw !== undefined) known[name] = raw.trim();
  }
  const conf = convict(schema as unknown as convict.Schema<Config>, { env: known, args: [] });
  try {
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    for (const line of String((err as Error).message).split('\n')) {
      const match = /^([\w.]+): (.*)$/.exec(line.trim());
      if (!match) continue;
      const [, path, why] = match;
      const name = envByPath.get(path ?? '') ?? path;
      // convict appends the offending value ("value was ..."); drop it so secrets cannot leak.
      problems.push(`${name}: ${(why ?? '').replace(/:? ?value was .*$/s, '')}`);
    }
    if (problems.length === 0) problems.push(String((err as Error).message));
  }
  const config = conf.getProperties() as Config;

  // Rules across variables, checked even when others are bad so every problem is named
  // at once; a toggle that is itself invalid counts as off here (it is reported above).
  const featureOn = config.enabled === true || config.consumer.enabled === true;
  // Named are only the toggles that are on, so the message says why this variable is needed.
  const because = requiredBecause([
    [config.enabled === true, 'PL_EVENT_GUEST_SYNC_ENABLED'],
    [config.consumer.enabled === true, 'PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED'],
  ]);
  if (featureOn && config.luma.apiKey === '') problems.push(`LUMA_API_KEY: is required because ${because}`);
  if (featureOn && config.database.url === '') problems.push(`DATABASE_URL: is required because ${because}`);
  if (featureOn && config.queue.url === '' && config.queue.name === '') {
    problems.push('PL_EVENT_GUEST_SYNC_QUEUE_URL: or PL_EVENT_GUEST_SYNC_QUEUE_NAME is required');
  }
  if (config.webhook.enabled === true && config.webhook.secret === '' && config.webhook.allowUnsigned !== true) {
    problems.push(
      'LUMA_WEBHOOK_SECRET: is required when LUMA_WEBHOOK_ENABLED is true (webhooks:register prints it); to serve unverified deliveries anyway, set LUMA_WEBHOOK_ALLOW_UNSIGNED=true',
    );
  }
  // Only the consumer holds messages; both values already valid (else reported above).
  if (
    config.consumer.enabled === true &&
    !problems.some((p) => /^(SYNC_CLAIM_LEASE|PL_EVENT_GUEST_SYNC_VISIBILITY)/.test(p))
  ) {
    const leaseProblem = claimLeaseProblem(config.claim.leaseSeconds, config.consumer.visibilityTimeoutSeconds);
    if (leaseProblem) problems.push(leaseProblem);
  }
  // A running sync holds a pooled connection while its page statements run (src/sync/
  // page-connection.ts), for the whole of a database-bound sync: its claim renewals, the
  // shared rate budget and the history need one more, or they wait until a sync ends.
  if (
    config.consumer.enabled === true &&
    !problems.some((p) => /^(DATABASE_POOL_MAX|PL_EVENT_GUEST_SYNC_CONCURRENCY):/.test(p)) &&
    config.database.poolMax <= config.consumer.concurrency
  ) {
    problems.push(
      `DATABASE_POOL_MAX: must be at least PL_EVENT_GUEST_SYNC_CONCURRENCY + 1 (${config.consumer.concurrency + 1}), ` +
        `not ${config.database.poolMax}: each running sync holds a connection while its page statements run, and ` +
        'its claim renewals, the shared Luma budget and the sync history need another',
    );
  }
  if (config.luma.retryBaseMs > config.luma.retryMaxMs) {
    problems.push('LUMA_RETRY_BASE_MS: must not exceed LUMA_RETRY_MAX_MS');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

/** The queue name as AWS requires it for a FIFO queue. */
export function fifoQueueName(name: string): string {
  return name.endsWith('.fifo') ? name : `${name}.fifo`;
}

/** The SQS endpoint override, if any: the service-specific variable wins, as in the AWS SDK. */
export function sqsEndpoint(config: Pick<Config, 'aws'>): string | undefined {
  return config.aws.sqsEndpoint || config.aws.endpoint || undefined;
}

/**
 * The region to hand the AWS SDK: AWS_REGION, else AWS_DEFAULT_REGION (the AWS CLI's order),
 * else undefined so the SDK resolves it (profile region, then EC2 instance metadata).
 */
export function awsRegionOf(config: Pick<Config, 'aws'>): string | undefined {
  return config.aws.region || config.aws.defaultRegion || undefined;
}

/** Said when no region can be found at all: every place one may be set. */
export const NO_AWS_REGION =
  'AWS_REGION: no AWS region found: set AWS_REGION (or AWS_DEFAULT_REGION), or a region in the AWS profile (AWS_PROFILE, in AWS_CONFIG_FILE or ~/.aws/config)';

/**
 * Resolves the region an AWS client will use, through the SDK's own chain. Throws a
 * ConfigError naming the variables when there is none: the SDK's own "Region is missing"
 * would surface only at the first request, as a retried runtime failure.
 */
export async function resolveAwsRegion(client: { config: { region: () => Promise<string> } }): Promise<string> {
  let region: string | undefined;
  try {
    region = await client.config.region();
  } catch {
    // The SDK's "Region is missing": nothing in its chain named one.
  }
  if (!region) throw new ConfigError([NO_AWS_REGION]);
  return region;
}

function deepFreeze<T>(value: T): Readonly<T> {
  for (const child of Object.values(value as object)) {
    if (child && typeof child === 'object') deepFreeze(child);
  }
  return Object.freeze(value);
}

/** "X is true" or "X and Y are true", for the toggles that are on. */
function requiredBecause(toggles: ReadonlyArray<readonly [boolean, string]>): string {
  const on = toggles.filter(([isOn]) => isOn).map(([, name]) => name);
  return on.length === 1 ? `${on[0]} is true` : `${on.join(' and ')} are true`;
}
