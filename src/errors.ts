import { DrizzleQueryError } from 'drizzle-orm/errors';

/**
 * The one error split callers branch on. A PermanentError can never succeed on
 * retry (a malformed message, an unknown provider, rejected credentials); every
 * other error is treated as retryable and left for SQS to redeliver.
 */
export class PermanentError extends Error {
  /** A short, stable label for metrics and logs, e.g. "bad_message", "luma_auth". */
  readonly kind: string;

  constructor(kind: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PermanentError';
    this.kind = kind;
  }
}

export function isPermanent(err: unknown): err is PermanentError {
  return err instanceof PermanentError;
}

/**
 * Contention with another session (a lock_timeout, a serialization failure, a deadlock:
 * database-limits.ts): retryable and ordinary, so its message is given back soon rather
 * than left to its visibility timeout.
 */
export function isContention(err: unknown): boolean {
  return !!err && typeof err === 'object' && 'contention' in err && err.contention === true;
}

/** A stable label for any error, for the errors-by-type metric: its own `kind` (a PermanentError's too), when it has one. */
export function errorKind(err: unknown): string {
  if (err && typeof err === 'object' && 'kind' in err && typeof err.kind === 'string') return err.kind;
  return isDatabaseError(err) ? 'database' : 'unexpected';
}

/** postgres.js's own codes for a connection that closed or never opened (a restart, a pooler). */
const CONNECTION_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT']);

/**
 * The connection is gone or going: closed, reset or never opened, or ended by the server
 * (a FATAL error: terminated, shut down), as opposed to an error of one statement, after
 * which the session goes on. PgBouncer's own errors ("server conn crashed?") carry only the
 * localised severity (postgres.js: severity_local), PostgreSQL's both.
 */
export function isConnectionLoss(err: unknown): boolean {
  const { code, severity, severity_local } = (err ?? {}) as {
    code?: unknown;
    severity?: unknown;
    severity_local?: unknown;
  };
  const level = severity ?? severity_local;
  return CONNECTION_CODES.has(String(code)) || level === 'FATAL' || level === 'PANIC' || isSocketError(err);
}

/**
 * A statement's connection failed in Node's own words (`read ECONNRESET`, `write EPIPE`)
 * before postgres.js could name it. Drizzle wraps every failed statement in a
 * DrizzleQueryError, which says the database failed; a statement sent without Drizzle
 * (executePrepared: the page statement) gets this instead, so that errorKind counts it as
 * the database failure it is (a page connection reset at a PostgreSQL restart:
 * test/sync/page-connection-reset.test.ts). The socket's code and syscall are kept: it is
 * still a connection loss, and one that a repeat may or may not help with.
 */
export class DatabaseSocketError extends Error {
  readonly code: unknown;
  readonly syscall: unknown;

  constructor(cause: Error & { code?: unknown; syscall?: unknown }) {
    super(`database connection failed: ${cause.message}`, { cause });
    this.name = 'DatabaseSocketError';
    this.code = cause.code;
    this.syscall = cause.syscall;
  }
}

/** Node's own error of a socket (it names the system call that failed), which postgres.js passes on as it is. */
export function isSocketError(err: unknown): err is Error & { syscall: unknown } {
  return err instanceof Error && 'syscall' in err;
}

/**
 * An error of a database call made without Drizzle (a statement, a reservation, a
 * transaction's BEGIN), named as the database's when it is a socket's own; any other as it is.
 */
export function asDatabaseFailure(err: unknown): unknown {
  return isSocketError(err) ? new DatabaseSocketError(err) : err;
}

/**
 * A database outage, the commonest retryable failure: Drizzle wraps every failed statement
 * (the driver's PostgresError or connection error is its cause); a caller may wrap one to
 * say what it was doing (the shared Luma budget does), so the causes are followed: five
 * errors deep at most, which also ends a chain of causes that loops.
 */
function isDatabaseError(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof DrizzleQueryError || e instanceof DatabaseSocketError || e.name === 'PostgresError') return true;
    if (CONNECTION_CODES.has(String((e as { code?: unknown }).code))) return true;
  }
  return false;
}

/**
 * A sync stopped because it was told to wait longer than it may while holding a consumer
 * slot and its event's claim (a long Retry-After; LUMA_MAX_WAIT_IN_SYNC_SECONDS). Not a
 * failure: the consumer gives the message back with this delay and the next attempt
 * resumes from the checkpoint.
 */
export class SyncDeferredError extends Error {
  readonly kind = 'sync_deferred';
  /** How long to wait before the next attempt, in whole seconds. */
  readonly delaySeconds: number;

  constructor(message: string, delaySeconds: number) {
    super(message);
    this.name = 'SyncDeferredError';
    this.delaySeconds = Math.max(1, Math.ceil(delaySeconds));
  }
}
