import pino, { type Logger } from 'pino';

export type { Logger };

/** Paths pino replaces with "[redacted]" wherever they appear in a log object. */
const REDACT = [
  'apiKey',
  '*.apiKey',
  'luma.apiKey',
  'databaseUrl',
  '*.databaseUrl',
  'database.url',
  'password',
  '*.password',
  'headers["x-luma-api-key"]',
  '*.headers["x-luma-api-key"]',
  'options.headers["x-luma-api-key"]',
  'err.options.headers["x-luma-api-key"]',
];

export interface LogOptions {
  level: string;
  pretty: boolean;
  /** Where lines go; defaults to stdout. Tests pass a stream to capture them. */
  destination?: pino.DestinationStream;
  /**
   * Write to stderr instead of stdout: for the one-shot commands, whose stdout is their
   * result document, so a script can parse it.
   */
  toStderr?: boolean;
}

/**
 * The process logger: JSON lines, one object per line, secrets redacted. With
 * `pretty`, lines read like `[PLEventGuestSyncService] [Sync:evt] sync complete`.
 */
export function createLogger(options: LogOptions): Logger {
  const base: pino.LoggerOptions = {
    level: options.level,
    base: { service: 'luma-guest-sync' },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    hooks: { logMethod: withoutBoundKeys },
  };
  if (options.pretty && !options.destination) {
    return pino({
      ...base,
      transport: {
        target: 'pino-pretty',
        options: {
          ignore: 'pid,hostname,service,component,eventUid',
          messageFormat: '{if component}[{component}] {end}{if eventUid}[Sync:{eventUid}] {end}{msg}',
          translateTime: 'SYS:HH:MM:ss.l',
          singleLine: true,
          destination: options.toStderr ? 2 : 1,
        },
      },
    });
  }
  const destination = options.destination ?? (options.toStderr ? pino.destination(2) : undefined);
  return destination ? pino(base, destination) : pino(base);
}

/**
 * pino appends a call's fields after the child's bindings without merging them, so
 * `child({ eventUid }).info(result)` with `result.eventUid` would write the key twice —
 * a line many log pipelines reject or mangle. A field already bound is dropped from the
 * call: the bound value stands. (Two children binding the same key cannot be caught here;
 * test/log-lines.test.ts checks the real lines for that.)
 */
function withoutBoundKeys(this: Logger, args: Parameters<pino.LogFn>, method: pino.LogFn): void {
  const [first] = args as unknown[];
  if (first && typeof first === 'object' && !(first instanceof Error) && !Array.isArray(first)) {
    const bound = this.bindings();
    const repeated = Object.keys(first).filter((key) => Object.hasOwn(bound, key));
    if (repeated.length > 0) {
      const copy: Record<string, unknown> = { ...(first as Record<string, unknown>) };
      for (const key of repeated) delete copy[key];
      (args as unknown[])[0] = copy;
    }
  }
  method.apply(this, args);
}

/** A logger that writes nothing, for tests and library callers that do not log. */
export const silentLogger: Logger = pino({ level: 'silent' });
