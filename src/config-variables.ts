import {
  awsRegion,
  httpUrl,
  intCoerce,
  nonNegativeInt,
  numCoerce,
  positiveInt,
  postgresUrl,
  queueUrl,
  share,
} from './config-formats.ts';
import { parseTiers } from './schedule/tiers.ts';

/**
 * Every environment variable the worker reads, as a convict schema: the one source of the
 * validation in config.ts, of config.schema.json and of the README's table. `doc` is the
 * one-line description shown in both. The 'strict-boolean' and 'cron' formats are
 * registered with convict by config.ts.
 */
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
  cronCatchUpSeconds: {
    doc: 'How late a cron firing may still run (GC pause, CPU throttling, paused VM, clock step); 0 = only on time.',
    format: nonNegativeInt(86_400).validate,
    ...intCoerce,
    default: 3_600,
    env: 'PL_EVENT_GUEST_SYNC_CRON_CATCH_UP_SECONDS',
  },
  enqueueConcurrency: {
    doc: 'SendMessageBatch calls (10 events each) the scheduler keeps in flight at once.',
    format: positiveInt(100).validate,
    ...intCoerce,
    default: 32,
    env: 'PL_EVENT_GUEST_SYNC_ENQUEUE_CONCURRENCY',
  },
  overdueAfterHours: {
    doc: 'An event whose last successful sync is older than this is overdue: counted in lgs_events_overdue, and `status` exits 1 (the daily pass plus a margin).',
    format: positiveInt(24 * 366).validate,
    ...intCoerce,
    default: 26,
    env: 'PL_EVENT_GUEST_SYNC_OVERDUE_AFTER_HOURS',
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
  history: {
    retentionDays: {
      doc: 'How many days of sync history (luma_guest_sync.sync_history, one row per attempt) are kept.',
      format: positiveInt(3650).validate,
      ...intCoerce,
      default: 30,
      env: 'PL_EVENT_GUEST_SYNC_HISTORY_RETENTION_DAYS',
    },
  },
  tiers: {
    enabled: {
      doc: 'Opt-in freshness schedule: also sync events by how soon they start (needs PL_EVENT_GUEST_SYNC_ENABLED).',
      format: 'strict-boolean',
      default: false,
      env: 'PL_EVENT_GUEST_SYNC_TIERS_ENABLED',
    },
    schedule: {
      doc: 'Freshness tiers as <starts within>=<sync every> pairs (m, h, d); an event takes the nearest tier covering it.',
      format: {
        validate(value: unknown) {
          parseTiers(String(value));
        },
      }.validate,
      default: '48h=15m,14d=60m',
      env: 'PL_EVENT_GUEST_SYNC_TIERS',
    },
    tickMinutes: {
      doc: 'How often the freshness tick looks for due events, in minutes (a divisor of 60).',
      format: {
        validate(value: unknown) {
          if (!Number.isInteger(value) || (value as number) < 1 || 60 % (value as number) !== 0) {
            throw new Error(
              'must be a whole number of minutes that divides 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)',
            );
          }
        },
      }.validate,
      ...intCoerce,
      default: 5,
      env: 'PL_EVENT_GUEST_SYNC_TIER_TICK_MINUTES',
    },
    budgetShare: {
      doc: "Largest share of the Luma key's request budget (LUMA_RATE_LIMIT_PER_MINUTE) the freshness tick plans to spend.",
      format: share.validate,
      ...numCoerce,
      default: 0.5,
      env: 'PL_EVENT_GUEST_SYNC_TIER_BUDGET_SHARE',
    },
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
    retries: {
      doc: 'How many times a Luma request that failed transiently (5xx, 408, 425, a reset or refused connection, a timeout) is retried in the process before the sync fails and its message goes back to SQS.',
      format: nonNegativeInt(20).validate,
      ...intCoerce,
      default: 5,
      env: 'LUMA_RETRIES',
    },
    retryBaseMs: {
      doc: 'Backoff before the first retry of a transient failure, in milliseconds; it doubles per retry up to LUMA_RETRY_MAX_MS, and the actual wait is a random share of it (full jitter).',
      format: positiveInt(60_000).validate,
      ...intCoerce,
      default: 500,
      env: 'LUMA_RETRY_BASE_MS',
    },
    retryMaxMs: {
      doc: 'Longest backoff between two retries of a transient failure, in milliseconds (a Retry-After on 503 is honoured beyond it, as on 429).',
      format: positiveInt(600_000).validate,
      ...intCoerce,
      default: 30_000,
      env: 'LUMA_RETRY_MAX_MS',
    },
    maxResponseBytes: {
      doc: 'Largest Luma response body read, in bytes (after decompression); a larger one is aborted while streaming and fails its page. A page of 100 guests is tens of KiB.',
      format: positiveInt(1_073_741_824).validate,
      ...intCoerce,
      default: 4_194_304,
      env: 'LUMA_MAX_RESPONSE_BYTES',
    },
  },
  webhook: {
    enabled: {
      doc: 'Serve POST /webhooks/luma on LUMA_WEBHOOK_PORT: a Luma guest delivery enqueues a sync of its event (opt-in).',
      format: 'strict-boolean',
      default: false,
      env: 'LUMA_WEBHOOK_ENABLED',
    },
    port: {
      doc: 'Port of the webhook receiver, apart from HTTP_PORT so only it is exposed to the internet (0 picks a free port).',
      format: nonNegativeInt(65_535).validate,
      ...intCoerce,
      default: 8081,
      env: 'LUMA_WEBHOOK_PORT',
    },
    secret: {
      doc: 'The whsec_ secret of the Luma webhook (webhooks:register prints it): deliveries must carry a valid Standard Webhooks signature. Empty: not verified.',
      format: {
        validate(value: unknown) {
          if (value !== '' && !/^(whsec_)?[A-Za-z0-9+/]+={0,2}$/.test(String(value))) {
            throw new Error('must be a Standard Webhooks secret: whsec_ followed by base64');
          }
        },
      }.validate,
      default: '',
      sensitive: true,
      env: 'LUMA_WEBHOOK_SECRET',
    },
    debounceSeconds: {
      doc: "Deliveries for one event within this window become one sync, sent when the window ends (at most 300: SQS's deduplication window).",
      format: positiveInt(300).validate,
      ...intCoerce,
      default: 10,
      env: 'LUMA_WEBHOOK_DEBOUNCE_SECONDS',
    },
    maxPerEventPerHour: {
      doc: 'Most webhook-triggered syncs of one event per hour, per process; deliveries past it are acknowledged and dropped.',
      format: positiveInt(3600).validate,
      ...intCoerce,
      default: 60,
      env: 'LUMA_WEBHOOK_MAX_PER_EVENT_PER_HOUR',
    },
    maxPerMinute: {
      doc: 'Most webhook-triggered syncs per minute for all events, per process; deliveries past it are acknowledged and dropped.',
      format: positiveInt(10_000).validate,
      ...intCoerce,
      default: 60,
      env: 'LUMA_WEBHOOK_MAX_PER_MINUTE',
    },
  },
  database: {
    url: {
      doc: 'PostgreSQL connection URL of the directory database, read as libpq reads it: a Unix socket with ?host=/dir, sslmode, sslrootcert (see the notes below the table).',
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
      doc: "AWS region of the queue. When empty: AWS_DEFAULT_REGION, then the AWS SDK's own chain (the profile's region in the shared config file, then EC2 instance metadata); none at all is a configuration error.",
      format: awsRegion.validate,
      default: '',
      env: 'AWS_REGION',
    },
    defaultRegion: {
      doc: 'Used when AWS_REGION is empty, as the AWS CLI does (the AWS SDK for JavaScript ignores it).',
      format: awsRegion.validate,
      default: '',
      env: 'AWS_DEFAULT_REGION',
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

type Leaf = { env: string; doc: string; default: unknown; sensitive?: boolean; format: unknown };

/** Every leaf of the schema with its dotted path, in declaration order. */
export function schemaLeaves(node: object = schema, prefix = ''): Array<Leaf & { path: string }> {
  return Object.entries(node).flatMap(([key, value]) =>
    'env' in value ? [{ ...(value as Leaf), path: `${prefix}${key}` }] : schemaLeaves(value, `${prefix}${key}.`),
  );
}
