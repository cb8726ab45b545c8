import convict from 'convict';
import {
  cronExpression,
  httpUrl,
  intCoerce,
  nonNegativeInt,
  numCoerce,
  positiveInt,
  postgresUrl,
  queueUrl,
  share,
  strictBoolean,
} from './config-formats.ts';

/**
 * Every setting of the worker, read from environment variables only.
 * `loadConfig(env)` is pure: it validates, reports every bad variable at once,
 * and returns a frozen plain object. Nothing else in the project reads process.env.
 */

convict.addFormat(strictBoolean);
convict.addFormat(cronExpression);

/** The convict schema. `doc` is the one-line description shown in the README and config.schema.json. */
export const schema = {
  enabled: {
    doc: 'Master toggle: when false the scheduler never enqueues.',
    format: 'strict-boolean',
    default: false,
    env: 'PL_EVENT_GUEST_SYNC_ENABLED',
  },
  cron: {
    doc: 'When the scheduler enqueues every syncable event (cron syntax, evaluated in UTC).',
    format: 'cron',
    default: '0 3 * * *',
    env: 'PL_EVENT_GUEST_SYNC_CRON',
  },
  removeStale: {
    doc: 'Remove synced guests who are no longer on the approved Luma list (opt-in).',
    format: 'strict-boolean',
    default: false,
    env: 'PL_EVENT_GUEST_SYNC_REMOVE_STALE',
  },
  removeStaleMaxShare: {
    doc: "Largest share of an event's synced guests one sync may remove; above it nothing is removed.",
    format: share.validate,
    ...numCoerce,
    default: 0.5,
    env: 'PL_EVENT_GUEST_SYNC_REMOVE_STALE_MAX_SHARE',
  },
  consumer: {
    enabled: {
      doc: 'Run the SQS consumer that syncs one event per message.',
      format: 'strict-boolean',
      default: false,
      env: 'PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED',
    },
    concurrency: {
      doc: 'How many events this process syncs at the same time.',
      format: positiveInt(10).validate,
      ...intCoerce,
      default: 2,
      env: 'PL_EVENT_GUEST_SYNC_CONCURRENCY',
    },
    visibilityTimeoutSeconds: {
      doc: 'How long a received message stays hidden; a heartbeat extends it while a sync runs.',
      format: positiveInt(43_200).validate,
      ...intCoerce,
      default: 120,
      env: 'PL_EVENT_GUEST_SYNC_VISIBILITY_TIMEOUT_SECONDS',
    },
    waitTimeSeconds: {
      doc: 'SQS long-polling wait per ReceiveMessage call.',
      format: nonNegativeInt(20).validate,
      ...intCoerce,
      default: 20,
      env: 'PL_EVENT_GUEST_SYNC_WAIT_TIME_SECONDS',
    },
  },
  queue: {
    name: {
      doc: 'SQS FIFO queue name, looked up when no URL is given; ".fifo" is appended when missing.',
      format: String,
      default: 'pl-event-guest-sync',
      env: 'PL_EVENT_GUEST_SYNC_QUEUE_NAME',
    },
    url: {
      doc: 'SQS queue URL; takes precedence over the name.',
      format: queueUrl({ fifo: true }).validate,
      default: '',
      env: 'PL_EVENT_GUEST_SYNC_QUEUE_URL',
    },
    poisonUrl: {
      doc: 'Optional queue that gets a full copy of every message that can never succeed, before it is dropped.',
      format: queueUrl({ fifo: false }).validate,
      default: '',
      env: 'PL_EVENT_GUEST_SYNC_POISON_QUEUE_URL',
    },
  },
  luma: {
    apiUrl: {
      doc: 'Luma API base URL.',
      format: httpUrl(false).validate,
      default: 'https://public-api.luma.com',
      env: 'LUMA_API_URL',
    },
    apiKey: {
      doc: 'Luma API key, sent as the x-luma-api-key header. Required when the feature or the consumer is enabled.',
      format: String,
      default: '',
      sensitive: true,
      env: 'LUMA_API_KEY',
    },
    guestsPath: {
      doc: 'Guest-list endpoint: the legacy /v1/event/get-guests or the current /v1/events/guests/list.',
      format: String,
      default: '/v1/event/get-guests',
      env: 'LUMA_GUESTS_PATH',
    },
    pageSize: {
      doc: 'Guests asked for per page (Luma caps it; 100 is the largest known to be accepted).',
      format: positiveInt(1000).validate,
      ...intCoerce,
      default: 100,
      env: 'LUMA_PAGE_SIZE',
    },
    maxPages: {
      doc: 'Upper bound on pages per event: a sync that would read more fails instead of looping.',
      format: positiveInt(1_000_000).validate,
      ...intCoerce,
      default: 10_000,
      env: 'LUMA_MAX_PAGES',
    },
    requestTimeoutMs: {
      doc: 'Timeout of one Luma request, in milliseconds.',
      format: positiveInt(600_000).validate,
      ...intCoerce,
      default: 30_000,
      env: 'LUMA_REQUEST_TIMEOUT_MS',
    },
    rateLimitPerMinute: {
      doc: 'Luma request budget per window (LUMA_RATE_LIMIT_WINDOW_MS): for all replicas on the key with the shared scope, per process otherwise (Luma allows 200 per minute per calendar key).',
      format: positiveInt(100_000).validate,
      ...intCoerce,
      default: 180,
      env: 'LUMA_RATE_LIMIT_PER_MINUTE',
    },
    rateLimitScope: {
      doc: 'Who shares LUMA_RATE_LIMIT_PER_MINUTE: "shared" = every replica on the same Luma key, through the database (needs db:migrate); "process" = each process on its own.',
      format: ['shared', 'process'],
      default: 'shared',
      env: 'LUMA_RATE_LIMIT_SCOPE',
    },
    rateLimitWindowMs: {
      doc: 'Length of the rate-limit window in milliseconds. Luma counts per minute: keep 60000 in production; tests and benchmarks scale it down.',
      format: positiveInt(3_600_000).validate,
      ...intCoerce,
      default: 60_000,
      env: 'LUMA_RATE_LIMIT_WINDOW_MS',
    },
    rateLimitRetries: {
      doc: 'How many times a request answered 429 is retried before the sync fails.',
      format: nonNegativeInt(10).validate,
      ...intCoerce,
      default: 3,
      env: 'LUMA_RATE_LIMIT_RETRIES',
    },
    rateLimitWaitSeconds: {
      doc: 'Wait after a 429 that carries no Retry-After header.',
      format: nonNegativeInt(3600).validate,
      ...intCoerce,
      default: 60,
      env: 'LUMA_RATE_LIMIT_WAIT_SECONDS',
    },
  },
  database: {
    url: {
      doc: 'PostgreSQL connection URL of the directory database.',
      format: postgresUrl.validate,
      default: '',
      sensitive: true,
      env: 'DATABASE_URL',
    },
    poolMax: {
      doc: 'Largest number of open database connections.',
      format: positiveInt(100).validate,
      ...intCoerce,
      default: 5,
      env: 'DATABASE_POOL_MAX',
    },
  },
  aws: {
    region: {
      doc: 'AWS region of the queue.',
      format: String,
      default: 'us-east-1',
      env: 'AWS_REGION',
    },
    sqsEndpoint: {
      doc: 'SQS endpoint override (LocalStack, tests); the AWS SDK convention.',
      format: httpUrl(true).validate,
      default: '',
      env: 'AWS_ENDPOINT_URL_SQS',
    },
    endpoint: {
      doc: 'Endpoint override for every AWS service, used when AWS_ENDPOINT_URL_SQS is empty.',
      format: httpUrl(true).validate,
      default: '',
      env: 'AWS_ENDPOINT_URL',
    },
  },
  log: {
    level: {
      doc: 'Log level.',
      format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      env: 'LOG_LEVEL',
    },
    pretty: {
      doc: 'Human-readable logs (development); JSON otherwise.',
      format: 'strict-boolean',
      default: false,
      env: 'LOG_PRETTY',
    },
  },
  http: {
    port: {
      doc: 'Port of /healthz, /readyz and /metrics (0 picks a free port).',
      format: nonNegativeInt(65_535).validate,
      ...intCoerce,
      default: 8080,
      env: 'HTTP_PORT',
    },
  },
  shutdownGraceMs: {
    doc: 'On SIGTERM, how long an in-flight sync may run before the process exits anyway.',
    format: positiveInt(3_600_000).validate,
    ...intCoerce,
    default: 25_000,
    env: 'SHUTDOWN_GRACE_MS',
  },
} as const;

export interface Config {
  enabled: boolean;
  cron: string;
  removeStale: boolean;
  removeStaleMaxShare: number;
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
  };
  database: { url: string; poolMax: number };
  aws: { region: string; sqsEndpoint: string; endpoint: string };
  log: { level: string; pretty: boolean };
  http: { port: number };
  shutdownGraceMs: number;
}

/** Thrown by loadConfig; its message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Leaf = { env: string; doc: string; default: unknown; sensitive?: boolean; format: unknown };

/** Every leaf of the schema with its dotted path, in declaration order. */
export function schemaLeaves(node: object = schema, prefix = ''): Array<Leaf & { path: string }> {
  return Object.entries(node).flatMap(([key, value]) =>
    'env' in value ? [{ ...(value as Leaf), path: `${prefix}${key}` }] : schemaLeaves(value, `${prefix}${key}.`),
  );
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

  if (problems.length === 0) {
    const needsLuma = config.enabled || config.consumer.enabled;
    if (config.consumer.enabled && config.luma.apiKey === '') {
      problems.push('LUMA_API_KEY: is required when PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED is true');
    }
    if (needsLuma && config.database.url === '') {
      problems.push('DATABASE_URL: is required when the scheduler or the consumer is enabled');
    }
    if (config.queue.url === '' && config.queue.name === '' && needsLuma) {
      problems.push('PL_EVENT_GUEST_SYNC_QUEUE_URL: or PL_EVENT_GUEST_SYNC_QUEUE_NAME is required');
    }
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

function deepFreeze<T>(value: T): Readonly<T> {
  for (const child of Object.values(value as object)) {
    if (child && typeof child === 'object') deepFreeze(child);
  }
  return Object.freeze(value);
}
