import type { SchemaCheck } from '../db/schema-check.ts';

export interface CheckResult {
  ok: boolean;
  /** A short message for people; never a connection string, key or response body. */
  detail?: string;
}

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, CheckResult>;
}

/** The least of a postgres.js `sql` the check uses: a tagged template returning a thenable. */
export type SqlTag = (strings: TemplateStringsArray, ...values: never[]) => PromiseLike<unknown>;

export interface ReadinessDeps<S extends SqlTag> {
  sql: S;
  checkSchema: (sql: S) => Promise<SchemaCheck>;
  /**
   * What can change under a running worker once the schema was found complete: whether
   * the server takes writes (a failover, read-only.ts). Checked on every probe.
   */
  checkWritable?: (sql: S) => Promise<SchemaCheck>;
  /** Resolves when the queue answers (e.g. GetQueueAttributes on its URL). */
  sqsPing: (signal?: AbortSignal) => Promise<void>;
  isShuttingDown: () => boolean;
  /** Per-check bound, so /readyz answers within it even when a dependency hangs. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 2_000;
const MAX_DETAIL = 300;

/**
 * Builds the readiness probe: database reachable, schema present, queue reachable,
 * not shutting down. Checks run in parallel, each bounded by `timeoutMs`; concurrent
 * callers share one evaluation so a burst of probes sends one query, not many.
 * A schema found complete is remembered (migrations do not go backwards under a
 * running worker); a missing schema is checked again on every probe, and so is, after
 * it, whether the server takes writes: a failover can make it read-only at any time.
 */
export function createReadiness<S extends SqlTag>(deps: ReadinessDeps<S>): () => Promise<ReadinessReport> {
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let schemaOk = false;
  let pending: Promise<ReadinessReport> | undefined;

  async function evaluate(): Promise<ReadinessReport> {
    if (deps.isShuttingDown()) {
      // Skip the others: the pool may already be closing, and the answer is "no" anyway.
      return { ready: false, checks: { shutdown: { ok: false, detail: 'shutting down' } } };
    }
    const [database, schema, queue] = await Promise.all([
      check('database', timeoutMs, async (signal) => {
        const query = deps.sql`SELECT 1`;
        // postgres.js queries can be cancelled; a timed-out probe should not hold a connection.
        signal.addEventListener('abort', () => (query as { cancel?: () => void }).cancel?.(), { once: true });
        await query;
      }),
      check('schema', timeoutMs, async () => {
        const result = schemaOk ? await deps.checkWritable?.(deps.sql) : await deps.checkSchema(deps.sql);
        if (result && !result.ok) throw new DetailError(schemaDetail(result));
        schemaOk = true;
      }),
      check('queue', timeoutMs, (signal) => deps.sqsPing(signal)),
    ]);
    const checks = { database, schema, queue, shutdown: { ok: true } };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  return () => {
    pending ??= evaluate().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}

/**
 * The remedy first: SchemaCheck.message lists every missing column and can run long. A
 * setting in the way is told as the check says it (what to change), never as a migration.
 */
function schemaDetail(result: SchemaCheck): string {
  if (result.setting) return result.message;
  const [first] = result.missing;
  if (first === undefined) return result.message;
  const what =
    result.missing.length === 1
      ? `${first} is missing`
      : `${result.missing.length} required columns or indexes are missing (first: ${first})`;
  return `${what}; run \`luma-guest-sync db:migrate\``;
}

/** An error whose message was written for people and may be shown in /readyz as it is. */
export class DetailError extends Error {}

async function check(
  name: string,
  timeoutMs: number,
  run: (signal: AbortSignal) => Promise<void>,
): Promise<CheckResult> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const outcome = await Promise.race([run(controller.signal).then(() => 'done' as const), timeout]);
    if (outcome === 'timeout') {
      controller.abort();
      return { ok: false, detail: `${name} check timed out after ${timeoutMs} ms` };
    }
    return { ok: true };
  } catch (err) {
    return { ok: false, detail: describe(name, err) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A driver's error message can carry a host, a user name or, from a misconfigured
 * URL, a password; only our own sentences and error codes are shown.
 */
function describe(name: string, err: unknown): string {
  if (err instanceof DetailError) return scrub(err.message);
  const code = err && typeof err === 'object' && 'code' in err ? String(err.code) : '';
  const errName = err instanceof Error ? err.name : '';
  const label = /^[A-Z0-9_]{2,40}$/.test(code) ? code : /^\w{1,40}$/.test(errName) ? errName : 'error';
  return `${name} unreachable (${label})`;
}

/** Drops URL credentials and bounds the length, as a last guard on text we did write. */
function scrub(text: string): string {
  const clean = text.replace(/\/\/[^/\s:@]*:[^/\s@]*@/g, '//***@');
  return clean.length > MAX_DETAIL ? `${clean.slice(0, MAX_DETAIL - 1)}…` : clean;
}
