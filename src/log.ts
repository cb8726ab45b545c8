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
        },
      },
    });
  }
  return options.destination ? pino(base, options.destination) : pino(base);
}

/** A logger that writes nothing, for tests and library callers that do not log. */
export const silentLogger: Logger = pino({ level: 'silent' });
