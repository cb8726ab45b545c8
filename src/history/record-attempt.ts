import type { Sql } from '../db/client.ts';
import { errorKind, SyncDeferredError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { EventSyncRunningError } from '../sync/claim.ts';
import { SyncInterruptedError } from '../sync/interrupted.ts';
import type { SyncResult, SyncTrigger } from '../sync/types.ts';
import { within } from '../within.ts';
import type { HistoryBacklog } from './backlog.ts';

/** One sync attempt as luma_guest_sync.sync_history stores it (migration 0004). */
export interface SyncAttempt {
  eventUid: string;
  trigger: SyncTrigger;
  /**
   * When it started and ended, if given (tests, imports). Else the database's clock sets
   * them from `endedAtMonotonicMs` and `durationMs`: a replica's own clock may be off by
   * minutes, and readers order attempts by these times across replicas.
   */
  startedAt?: Date;
  finishedAt?: Date;
  /**
   * When it ended on this process's monotonic clock (`performance.now()`): the insert
   * stamps it that long before the database's now, however late the row is written.
   * Absent: it ended at the insert.
   */
  endedAtMonotonicMs?: number;
  /** How long it ran, on the same monotonic clock; its start is that long before its end. */
  durationMs?: number;
  outcome: AttemptOutcome;
  /** errorKind() of the failure (or refusal, or deferral); absent for a success. */
  errorKind?: string;
  /** The sync's counts; absent for a failure, which returns none. */
  result?: Pick<SyncResult, 'pages' | 'fetched' | 'matched' | 'created' | 'removed' | 'skipped'>;
}

/**
 * How an attempt ended. 'refused': another sync held the event's claim, so this one never
 * ran (not a failure: the other is syncing it). 'deferred': Luma asked for a wait longer
 * than a sync may hold its claim; the message comes back after it (migration 0008).
 * 'interrupted': its worker shut down mid-sync; another resumes from the checkpoint.
 */
export type AttemptOutcome = 'success' | 'failure' | 'refused' | 'deferred' | 'interrupted';

/** The outcome an attempt that threw is recorded with. */
export function outcomeOfError(err: unknown): Exclude<AttemptOutcome, 'success'> {
  if (err instanceof EventSyncRunningError) return 'refused';
  if (err instanceof SyncDeferredError) return 'deferred';
  if (err instanceof SyncInterruptedError) return 'interrupted';
  return 'failure';
}

export interface HistoryDeps {
  sql: Sql;
  /** Rows older than this many days are deleted as new ones are written. */
  retentionDays: number;
}

/**
 * Rows past retention deleted per insert. Bounded so one insert never waits on a big
 * delete; any steady rate of attempts still keeps the table at its retention, because
 * each attempt deletes up to this many older rows and adds one.
 */
export const PRUNE_BATCH = 100;

/**
 * Writes one attempt, and prunes past-retention rows, in one statement: the history
 * costs one round trip per attempt whatever the number of pages. `signal` withdraws a
 * statement still waiting for a connection (postgres.js reconnects with a growing
 * back-off while the database is away): it then rejects with 57014 and was not written.
 */
export async function recordSyncAttempt(deps: HistoryDeps, attempt: SyncAttempt, signal?: AbortSignal): Promise<void> {
  const r = attempt.result;
  const withoutAccount = r ? Math.max(0, r.fetched - r.matched) : null;
  const endedSecondsAgo =
    attempt.endedAtMonotonicMs === undefined ? 0 : Math.max(0, performance.now() - attempt.endedAtMonotonicMs) / 1000;
  const startedSecondsAgo = endedSecondsAgo + (attempt.durationMs ?? 0) / 1000;
  const statement = deps.sql`
    WITH pruned AS (
      DELETE FROM luma_guest_sync.sync_history
      WHERE id IN (
        SELECT id FROM luma_guest_sync.sync_history
        WHERE finished_at < now() - make_interval(days => ${deps.retentionDays}::int)
        ORDER BY finished_at LIMIT ${PRUNE_BATCH}
      )
    )
    INSERT INTO luma_guest_sync.sync_history
      (event_uid, trigger, started_at, finished_at, outcome, error_kind,
       pages, fetched, matched, created, removed, skipped, without_account)
    VALUES (${attempt.eventUid}, ${attempt.trigger},
      coalesce(${attempt.startedAt?.toISOString() ?? null}::timestamptz,
        clock_timestamp() - make_interval(secs => ${startedSecondsAgo}::float8)),
      coalesce(${attempt.finishedAt?.toISOString() ?? null}::timestamptz,
        clock_timestamp() - make_interval(secs => ${endedSecondsAgo}::float8)),
      ${attempt.outcome}, ${attempt.errorKind ?? null}, ${r?.pages ?? null}, ${r?.fetched ?? null},
      ${r?.matched ?? null}, ${r?.created ?? null}, ${r?.removed ?? null}, ${r?.skipped ?? null}, ${withoutAccount})`;
  const withdraw = () => void statement.cancel();
  signal?.addEventListener('abort', withdraw, { once: true });
  try {
    await statement;
  } finally {
    signal?.removeEventListener('abort', withdraw);
  }
}

/**
 * How long the end of a sync waits for its history row, at most. A database that stopped
 * answering without closing the connection (a partition, a host gone without a reset)
 * would otherwise hold the sync, and the consumer's slot and message with it, until TCP
 * gives up, minutes later (docs/reliability.md). As long as the pool waits for a new
 * connection (the connect timeout); a database that answers takes milliseconds.
 */
export const RECORD_WAIT_MS = 10_000;

/**
 * Runs one sync and records it as one attempt, success or failure. A dry run is not an
 * attempt (it writes nothing) and is not recorded. Failing to write the history never
 * fails or delays the sync: the sync's own outcome stands. With a `backlog` (the daemon)
 * a row the database could not take is kept and written once it is back (backlog.ts),
 * which the next row written shows; without one (a one-shot command) the failure is
 * logged and the row is lost. Its times are the database's (its duration and how long
 * ago it ended measured here, so a row written late keeps its real times), unless `now`
 * is given (tests). The sync's outcome waits for the row at most `recordWaitMs`
 * (RECORD_WAIT_MS): a write unanswered by then goes on, and is kept in the backlog if it
 * fails, as any other.
 */
export async function withSyncHistory(
  deps: HistoryDeps & {
    log: Logger;
    now?: () => Date;
    backlog?: Pick<HistoryBacklog, 'keep' | 'databaseAnswered'>;
    recordWaitMs?: number;
  },
  what: { eventUid: string; trigger: SyncTrigger; dryRun?: boolean },
  run: () => Promise<SyncResult>,
): Promise<SyncResult> {
  const now = deps.now;
  const startedAt = now?.();
  const started = performance.now();
  const record = async (
    attempt: Omit<
      SyncAttempt,
      'eventUid' | 'trigger' | 'startedAt' | 'finishedAt' | 'endedAtMonotonicMs' | 'durationMs'
    >,
  ) => {
    if (what.dryRun) return;
    const ended = performance.now();
    const row: SyncAttempt = {
      eventUid: what.eventUid,
      trigger: what.trigger,
      startedAt,
      finishedAt: now?.(),
      endedAtMonotonicMs: ended,
      durationMs: ended - started,
      ...attempt,
    };
    try {
      await recordSyncAttempt(deps, row);
      // The database answers: rows kept while it was away can go in now.
      deps.backlog?.databaseAnswered();
    } catch (err) {
      if (deps.backlog) deps.backlog.keep(row, err);
      else deps.log.warn({ err, eventUid: what.eventUid, trigger: what.trigger }, 'could not record the sync attempt');
    }
  };
  const waitMs = deps.recordWaitMs ?? RECORD_WAIT_MS;
  // `writing` never rejects: `record` keeps or logs a failed write itself.
  const waitForRow = async (writing: Promise<void>) => {
    const answered = await within(
      writing.then(() => true),
      waitMs,
    );
    if (!answered) {
      deps.log.warn(
        { eventUid: what.eventUid, trigger: what.trigger, waitMs },
        'sync attempt not recorded yet: the database has not answered; the write goes on',
      );
    }
  };
  let result: SyncResult;
  try {
    result = await run();
  } catch (err) {
    await waitForRow(record({ outcome: outcomeOfError(err), errorKind: errorKind(err) }));
    throw err;
  }
  await waitForRow(record({ outcome: 'success', result }));
  return result;
}
