import { httpUrl, intCoerce, nonNegativeInt, positiveInt } from './formats.ts';

/**
 * The Luma variables of the schema in variables.ts — the API client, its rate
 * budget and retries — and the webhook receiver's. Apart only for the files' size: that
 * schema is still the one source of validation, config.schema.json and the table of docs/configuration.md.
 */
export const lumaVariables = {
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
  maxWaitInSyncSeconds: {
    doc: 'Longest Retry-After or backoff a sync waits through while holding its consumer slot and its claim; a longer one ends the sync, keeping its checkpoint, and gives its message back to SQS with that delay (at most 12 hours).',
    format: positiveInt(43_200).validate,
    ...intCoerce,
    default: 120,
    env: 'LUMA_MAX_WAIT_IN_SYNC_SECONDS',
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
} as const;

export const webhookVariables = {
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
} as const;
