import { parseTiers } from '../schedule/tiers.ts';
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
} from './formats.ts';
import { lumaVariables, webhookVariables } from './variables-luma.ts';

/**
 * Every environment variable the worker reads, as a convict schema: the one source of the
 * validation in config.ts, of config.schema.json and of the table of docs/configuration.md. `doc` is the
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
  claim: {
    leaseSeconds: {
      doc: "How long a sync's claim on its event lasts without renewal (renewed every third of it): a claim whose holder died is free again after at most this long. With the consumer on, at most PL_EVENT_GUEST_SYNC_VISIBILITY_TIMEOUT_SECONDS minus its heartbeat interval (a third of it), so a dead worker's message finds the claim free when it reappears (80 with the default 120).",
      format: {
        validate(value: unknown) {
          if (!Number.isInteger(value) || (value as number) < 3 || (value as number) > 3600) {
            throw new Error('must be a whole number of seconds from 3 to 3600');
          }
        },
      }.validate,
      ...intCoerce,
      default: 60,
      env: 'SYNC_CLAIM_LEASE_SECONDS',
    },
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
      doc: 'How long a received message stays hidden; a heartbeat extends it every third of it while a sync runs. Must exceed SYNC_CLAIM_LEASE_SECONDS by at least that heartbeat interval.',
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
  luma: lumaVariables,
  webhook: webhookVariables,
  database: {
    url: {
      doc: 'PostgreSQL connection URL of the directory database, read as libpq reads it: a Unix socket with ?host=/dir, sslmode, sslrootcert (see the notes below the table).',
      format: postgresUrl.validate,
      default: '',
      sensitive: true,
      env: 'DATABASE_URL',
    },
    poolMax: {
      doc: "Largest number of pooled database connections; a running sync uses the pool's connections only (see the notes).",
      format: positiveInt(100).validate,
      ...intCoerce,
      default: 5,
      env: 'DATABASE_POOL_MAX',
    },
    pooler: {
      doc: '"transaction" when DATABASE_URL leads to a transaction-mode pooler (PgBouncer, RDS Proxy): no named prepared statements (each statement parsed and planned every time). "none": a direct connection or a session-mode pooler (see docs/poolers.md).',
      format: ['none', 'transaction'],
      default: 'none',
      env: 'DATABASE_POOLER',
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
