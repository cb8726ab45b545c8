/**
 * Tier sync attempts written to luma_guest_sync.sync_history as the worker writes them
 * (recordSyncAttempt), at times the test chooses: the history the freshness tick
 * (tier-due.ts) and the webhook's linked events (linked-events.ts) read an event's last
 * success, its page count and the guests read per match from.
 */
import type { Sql } from '../../src/db/client.ts';
import { recordSyncAttempt } from '../../src/history/record-attempt.ts';
import type { SyncResult } from '../../src/sync/types.ts';

/** A sync's counts; each one left out is 0. */
type Counts = Partial<Pick<SyncResult, 'pages' | 'fetched' | 'matched' | 'created' | 'removed' | 'skipped'>>;

/** Records, in `sql`'s database, attempts that each ran for one second from `startedAt`. */
export function tierSyncHistory(sql: Sql) {
  const record = (eventUid: string, startedAt: Date, outcome: 'success' | 'failure', counts?: Counts) =>
    recordSyncAttempt(
      { sql, retentionDays: 30 },
      {
        eventUid,
        trigger: 'tier',
        startedAt,
        finishedAt: new Date(startedAt.getTime() + 1000),
        outcome,
        ...(counts === undefined
          ? {}
          : { result: { pages: 0, fetched: 0, matched: 0, created: 0, removed: 0, skipped: 0, ...counts } }),
        ...(outcome === 'failure' ? { errorKind: 'luma_unavailable' } : {}),
      },
    );
  return {
    success: (eventUid: string, startedAt: Date, counts: Counts) => record(eventUid, startedAt, 'success', counts),
    /** Luma was unavailable. Without `counts` it returned none; with them it read part of the list. */
    failure: (eventUid: string, startedAt: Date, counts?: Counts) => record(eventUid, startedAt, 'failure', counts),
  };
}
