import convict from 'convict';
import { cronExpression, strictBoolean } from './config-formats.ts';
import { schema, schemaLeaves } from './config-variables.ts';

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
  if (featureOn && config.luma.apiKey === '') {
    problems.push(
      'LUMA_API_KEY: is required when PL_EVENT_GUEST_SYNC_ENABLED or PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED is true',
    );
  }
  if (featureOn && config.database.url === '') {
    problems.push('DATABASE_URL: is required when the scheduler or the consumer is enabled');
  }
  if (featureOn && config.queue.url === '' && config.queue.name === '') {
    problems.push('PL_EVENT_GUEST_SYNC_QUEUE_URL: or PL_EVENT_GUEST_SYNC_QUEUE_NAME is required');
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
