import type { Sql } from '../db/client.ts';
import type { SyncHistoryRow } from '../history/queries.ts';
import { eligibleEventAt } from '../schedule/discover.ts';
import { type Tier, tierDueAt, tierOf } from '../schedule/tiers.ts';
import { overdueBefore } from './overdue.ts';

/** One syncable event as `status` shows it. Nothing about guests but counts: no emails. */
export interface EventStatus {
  eventUid: string;
  name: string;
  startDate: Date;
  /** The newest attempt in the sync history, if any. */
  lastAttempt?: Omit<SyncHistoryRow, 'eventUid'>;
  /** Start of the last successful sync (history), or guestLastSyncedAt for older syncs. */
  lastSuccessAt?: Date;
  /** Seconds since the last success; absent when it never succeeded. */
  ageSeconds?: number;
  /** When the schedule next syncs it (the sooner of the daily pass and its tier), if known. */
  nextDueAt?: Date;
  /** What next syncs it: "daily" or the tier's horizon (e.g. "48h"). */
  nextDueBy?: string;
  /** The last attempt failed. */
  failed: boolean;
  /** No success (or creation, if never synced) within PL_EVENT_GUEST_SYNC_OVERDUE_AFTER_HOURS. */
  overdue: boolean;
}

export interface StatusOptions {
  now: Date;
  overdueAfterHours: number;
  /** The daily pass's next firing; absent when the scheduler is off. */
  nextDailyRun?: Date;
  /** The freshness tiers when they are enabled. */
  tiers?: { tiers: readonly Tier[]; tickMs: number };
  /** Only this event (it is shown even when no longer syncable). */
  eventUid?: string;
}

interface StatusRow extends Omit<SyncHistoryRow, 'eventUid' | 'startedAt' | 'finishedAt' | 'trigger' | 'outcome'> {
  eventUid: string;
  name: string;
  startDate: string;
  createdAt: string;
  guestLastSyncedAt: string | null;
  trigger: SyncHistoryRow['trigger'] | null;
  outcome: SyncHistoryRow['outcome'] | null;
  startedAt: string | null;
  finishedAt: string | null;
  lastSuccessAt: string | null;
  lastTierSlot: string | null;
}

const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

/**
 * The syncable events (the scheduler's rule) with their last attempt, last success and
 * schedule, in one statement: two index probes per event into the history.
 * Timestamps come back as ISO text: Drizzle, sharing this client, turns postgres.js's
 * date parsing off; "PLEvent" dates are UTC timestamps without a zone.
 */
export async function readEventStatuses(sql: Sql, options: StatusOptions): Promise<EventStatus[]> {
  const which = options.eventUid ? sql`e.uid = ${options.eventUid}` : eligibleEventAt(sql, options.now);
  const rows = await sql<StatusRow[]>`
    SELECT e.uid AS "eventUid", e.name,
      to_char(e."startDate", ${sql.unsafe(ISO)}) AS "startDate",
      to_char(e."createdAt", ${sql.unsafe(ISO)}) AS "createdAt",
      to_char(e."guestLastSyncedAt", ${sql.unsafe(ISO)}) AS "guestLastSyncedAt",
      a.trigger, a.outcome, a.error_kind AS "errorKind", a.pages, a.fetched, a.matched, a.created,
      a.removed, a.skipped, a.without_account AS "withoutAccount",
      to_char(a.started_at AT TIME ZONE 'UTC', ${sql.unsafe(ISO)}) AS "startedAt",
      to_char(a.finished_at AT TIME ZONE 'UTC', ${sql.unsafe(ISO)}) AS "finishedAt",
      to_char(s.started_at AT TIME ZONE 'UTC', ${sql.unsafe(ISO)}) AS "lastSuccessAt",
      to_char(t.slot AT TIME ZONE 'UTC', ${sql.unsafe(ISO)}) AS "lastTierSlot"
    FROM "PLEvent" e
    LEFT JOIN LATERAL (
      -- A refused attempt never ran (another sync held the event): it hides nothing.
      SELECT * FROM luma_guest_sync.sync_history WHERE event_uid = e.uid AND outcome <> 'refused'
      ORDER BY started_at DESC LIMIT 1
    ) a ON true
    LEFT JOIN LATERAL (
      SELECT started_at FROM luma_guest_sync.sync_history
      WHERE event_uid = e.uid AND outcome = 'success' ORDER BY started_at DESC LIMIT 1
    ) s ON true
    LEFT JOIN luma_guest_sync.tier_enqueued t ON t.event_uid = e.uid
    WHERE ${which}
    ORDER BY e."startDate", e.id`;
  return rows.map((row) => toStatus(row, options));
}

function toStatus(row: StatusRow, options: StatusOptions): EventStatus {
  const now = options.now.getTime();
  const date = (text: string | null) => (text ? new Date(text) : undefined);
  const lastSuccessAt = date(row.lastSuccessAt) ?? date(row.guestLastSyncedAt);
  const startDate = new Date(row.startDate);
  const status: EventStatus = {
    eventUid: row.eventUid,
    name: row.name,
    startDate,
    failed: row.outcome === 'failure',
    overdue: (lastSuccessAt ?? new Date(row.createdAt)) < overdueBefore(options.now, options.overdueAfterHours),
  };
  if (row.startedAt && row.finishedAt && row.trigger && row.outcome) {
    status.lastAttempt = {
      trigger: row.trigger,
      outcome: row.outcome,
      startedAt: new Date(row.startedAt),
      finishedAt: new Date(row.finishedAt),
      errorKind: row.errorKind,
      pages: row.pages,
      fetched: row.fetched,
      matched: row.matched,
      created: row.created,
      removed: row.removed,
      skipped: row.skipped,
      withoutAccount: row.withoutAccount,
    };
  }
  if (lastSuccessAt) {
    status.lastSuccessAt = lastSuccessAt;
    status.ageSeconds = Math.round((now - lastSuccessAt.getTime()) / 1000);
  }
  const next = nextDue({ lastSuccessAt, lastTierSlot: date(row.lastTierSlot) }, startDate, options);
  if (next) {
    status.nextDueAt = next.at;
    status.nextDueBy = next.by;
  }
  return status;
}

/** The sooner of the daily pass and the event's tier, never in the past (due now = now). */
function nextDue(
  candidate: { lastSuccessAt?: Date; lastTierSlot?: Date },
  startDate: Date,
  options: StatusOptions,
): { at: Date; by: string } | undefined {
  const now = options.now.getTime();
  const choices: Array<{ at: number; by: string }> = [];
  if (options.nextDailyRun) choices.push({ at: options.nextDailyRun.getTime(), by: 'daily' });
  const tier = options.tiers && tierOf(options.tiers.tiers, startDate.getTime(), now);
  if (options.tiers && tier) {
    choices.push({ at: Math.max(now, tierDueAt(candidate, tier, options.tiers.tickMs)), by: tier.name });
  }
  const soonest = choices.sort((a, b) => a.at - b.at)[0];
  return soonest && { at: new Date(soonest.at), by: soonest.by };
}
