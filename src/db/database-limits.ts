import { sql } from 'drizzle-orm';
import type { Db } from './client.ts';

/**
 * A statement the database stopped because of a limit a DBA may set on the worker's role
 * (statement_timeout, lock_timeout), because another session was in the way (a
 * serialization failure, a deadlock), or because the server was read-only (a hot standby,
 * a primary demoted in a failover, default_transaction_read_only). The server's own text
 * ("canceling statement due to statement timeout") names neither the setting's value nor
 * what the worker was doing; this error names both, and its kind labels the metric and
 * the history row.
 *
 * All are retryable: nothing of the stopped statement (or of its transaction) was
 * written, and a later attempt repeats it, resuming from the claim's checkpoint. `contention` marks the ones another session caused:
 * ordinary, so the consumer gives their message back soon instead of letting it wait out
 * its visibility timeout on the way to the DLQ (process-message.ts). `read_only` is not
 * contention: a failover lasts tens of seconds to minutes, so its message waits out the
 * visibility timeout (120 s by default) as for a database outage, and a DATABASE_URL
 * leading to a reader endpoint is not retried every few seconds as if it would pass.
 */
export class DatabaseLimitError extends Error {
  readonly kind: DatabaseLimitKind;
  /** What the worker was doing: "the page statement of page 2", "stale removal", … */
  readonly stage: string;
  readonly contention: boolean;

  constructor(kind: DatabaseLimitKind, stage: string, setting: SettingValue | undefined, cause: unknown) {
    super(describe(kind, stage, setting), { cause });
    this.name = 'DatabaseLimitError';
    this.kind = kind;
    this.stage = stage;
    this.contention = CONTENTION.has(kind);
  }
}

export type DatabaseLimitKind =
  | 'statement_timeout'
  | 'lock_timeout'
  | 'query_canceled'
  | 'serialization_failure'
  | 'deadlock'
  | 'read_only';

const CONTENTION: ReadonlySet<DatabaseLimitKind> = new Set(['lock_timeout', 'serialization_failure', 'deadlock']);

/** The setting behind a kind, as the server reports it for the worker's sessions. */
const SETTING_OF: Partial<Record<DatabaseLimitKind, string>> = {
  statement_timeout: 'statement_timeout',
  lock_timeout: 'lock_timeout',
  serialization_failure: 'default_transaction_isolation',
  read_only: 'default_transaction_read_only',
};

interface SettingValue {
  value: string;
  /** pg_settings.source: "user" (ALTER ROLE), "database", "configuration file", … */
  source: string;
  /** pg_is_in_recovery(): the server is a standby, read-only whatever the setting. */
  standby?: boolean;
}

/** The kind of a PostgreSQL error the database raised for a limit, or undefined. */
export function limitKindOf(err: unknown): DatabaseLimitKind | undefined {
  const cause = postgresCause(err);
  switch (cause?.code) {
    case '57014': // query_canceled: a statement_timeout, or pg_cancel_backend
      return /statement timeout/i.test(cause.message) ? 'statement_timeout' : 'query_canceled';
    case '55P03': // lock_not_available: lock_timeout (the worker never asks NOWAIT)
      return 'lock_timeout';
    case '40001':
      return 'serialization_failure';
    case '40P01':
      return 'deadlock';
    case '25006': // read_only_sql_transaction: a hot standby, or default_transaction_read_only
      return 'read_only';
    default:
      return undefined;
  }
}

/**
 * Runs one stage of a sync; a limit the database hit in it becomes a DatabaseLimitError
 * naming the stage (the setting's value is added by withSettingValue, outside any
 * transaction). Errors of an inner stage pass through unchanged.
 */
export async function during<T>(stage: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const kind = err instanceof DatabaseLimitError ? undefined : limitKindOf(err);
    throw kind ? new DatabaseLimitError(kind, stage, undefined, err) : err;
  }
}

/**
 * A DatabaseLimitError with its message now quoting the setting's value and where it was
 * set, read from the database (one statement, run once the failed stage's transaction
 * ended: a pool of one connection would otherwise wait on itself); any other error as it
 * is. A failed lookup keeps the error as it was.
 */
export async function explainLimit(db: Db, err: unknown): Promise<unknown> {
  if (!(err instanceof DatabaseLimitError)) return err;
  const name = SETTING_OF[err.kind];
  if (!name) return err;
  try {
    const [row] = await db.execute<{ value: string; source: string; standby: boolean }>(sql`
      SELECT current_setting(${name}) AS value, source, pg_is_in_recovery() AS standby
      FROM pg_settings WHERE name = ${name}`);
    if (!row) return err;
    const setting = { value: row.value, source: row.source, standby: row.standby };
    return new DatabaseLimitError(err.kind, err.stage, setting, err.cause);
  } catch {
    return err;
  }
}

function describe(kind: DatabaseLimitKind, stage: string, setting: SettingValue | undefined): string {
  const value = setting ? ` (${setting.value})` : '';
  const where = setting ? ` ${sourceOf(setting.source)}` : '';
  const resumes = 'nothing of it was written, and a later attempt repeats it (rows already added stay)';
  switch (kind) {
    case 'statement_timeout':
      return `statement_timeout${value}${where} cancelled ${stage}: ${resumes}. Raise it (docs/security.md, "Role settings": the minimum measured) or find what held the statement up (a lock of another session, a loaded server)`;
    case 'lock_timeout':
      return `lock_timeout${value}${where} ran out: ${stage} waited for a lock another session holds (the directory app, a migration, another sync): ${resumes}. Ordinary contention: the consumer retries it within seconds`;
    case 'serialization_failure':
      return `${stage} met a concurrent update it could not serialize under default_transaction_isolation${value}${where}: the worker needs read committed (docs/security.md, "Role settings"); ${resumes}`;
    case 'deadlock':
      return `${stage} was ended as the victim of a deadlock with another session; ${resumes}`;
    case 'query_canceled':
      return `${stage} was cancelled on request (pg_cancel_backend, or the server shutting down); ${resumes}`;
    case 'read_only':
      return describeReadOnly(stage, setting, resumes);
  }
}

/**
 * Why the server refused to write, as far as a statement run after the failure can tell
 * (on a session of the pool, perhaps not the one that failed): a standby, the setting, or
 * neither any more (a failover that has just ended, a session that reconnected).
 */
function describeReadOnly(stage: string, setting: SettingValue | undefined, resumes: string): string {
  if (setting?.standby) {
    return `${stage} was refused by a read-only server: it is a hot standby (in recovery), so DATABASE_URL leads to a read replica or reader endpoint, or a failover is under way; ${resumes}. Point DATABASE_URL at the primary (the writer endpoint); after a failover the next attempt completes once the server is writable`;
  }
  if (setting?.value === 'on') {
    return `default_transaction_read_only (on) ${sourceOf(setting.source)} made ${stage} read-only; ${resumes}. Remove it (ALTER ROLE <worker> RESET default_transaction_read_only, or ALTER DATABASE … RESET; docs/security.md, "Role settings"): sessions already open keep it until they reconnect`;
  }
  const now = setting ? ', and the server answers writable now (a failover that has just ended?)' : '';
  return `${stage} was refused by a read-only server (a hot standby or read replica, a primary demoted in a failover, or default_transaction_read_only on)${now}; ${resumes}. DATABASE_URL must lead to the primary (the writer endpoint)`;
}

/** Where a setting's value came from, as a phrase ("set for the worker's role"). */
export function sourceOf(source: string): string {
  if (source === 'user') return "set for the worker's role";
  if (source === 'database') return 'set for the database';
  if (source === 'configuration file') return "set in the server's configuration";
  return `(source: ${source})`;
}

/** The driver's error inside Drizzle's wrapper, or any cause chain (bounded). */
function postgresCause(err: unknown): { code: string; message: string } | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.name === 'PostgresError') return { code: String((e as { code?: unknown }).code), message: e.message };
  }
  return undefined;
}
