import type { Sql } from '../db/client.ts';
import type { SyncTrigger } from '../sync/types.ts';

/** One row of luma_guest_sync.sync_history, as readers get it. */
export interface SyncHistoryRow {
  eventUid: string;
  trigger: SyncTrigger;
  startedAt: Date;
  finishedAt: Date;
  outcome: 'success' | 'failure' | 'refused' | 'deferred';
  errorKind: string | null;
  pages: number | null;
  fetched: number | null;
  matched: number | null;
  created: number | null;
  removed: number | null;
  skipped: number | null;
  /** Approved guests whose email matches no directory member. */
  withoutAccount: number | null;
}

/**
 * Drizzle, sharing this postgres.js client, turns its timestamp parsers off (it maps
 * dates itself), so raw statements get the text and the rows are mapped here.
 */
function toRow(raw: SyncHistoryRow): SyncHistoryRow {
  return { ...raw, startedAt: new Date(raw.startedAt), finishedAt: new Date(raw.finishedAt) };
}

const COLUMNS = `event_uid AS "eventUid", trigger, started_at AS "startedAt", finished_at AS "finishedAt",
  outcome, error_kind AS "errorKind", pages, fetched, matched, created, removed, skipped,
  without_account AS "withoutAccount"`;

/**
 * The last attempt of each event (of the given events, or of every event with history),
 * newest first. One index scan per event through (event_uid, started_at DESC). Refused
 * attempts are not attempts of the event's sync (another sync held it, and its own row
 * tells how that went), so they never hide it.
 */
export async function lastAttempts(sql: Sql, options: { eventUids?: readonly string[] } = {}) {
  const filter = options.eventUids ? sql`AND event_uid = ANY(${options.eventUids as string[]})` : sql``;
  const rows = await sql<SyncHistoryRow[]>`
    SELECT * FROM (
      SELECT DISTINCT ON (event_uid) ${sql.unsafe(COLUMNS)}
      FROM luma_guest_sync.sync_history WHERE outcome <> 'refused' ${filter}
      ORDER BY event_uid, started_at DESC
    ) last ORDER BY "startedAt" DESC`;
  return rows.map(toRow);
}

/** The recent attempts of one event, newest first. */
export async function eventHistory(sql: Sql, eventUid: string, limit = 20): Promise<SyncHistoryRow[]> {
  const rows = await sql<SyncHistoryRow[]>`
    SELECT ${sql.unsafe(COLUMNS)} FROM luma_guest_sync.sync_history
    WHERE event_uid = ${eventUid}
    ORDER BY started_at DESC LIMIT ${limit}`;
  return rows.map(toRow);
}

/** Per event: when its last successful sync started and how many pages it read. */
export interface LastSuccess {
  startedAt: Date;
  pages: number;
}

/** The last successful attempt of each given event; events without one are absent. */
export async function lastSuccesses(sql: Sql, eventUids: readonly string[]): Promise<Map<string, LastSuccess>> {
  if (eventUids.length === 0) return new Map();
  const rows = await sql<{ eventUid: string; startedAt: Date; pages: number }[]>`
    SELECT DISTINCT ON (event_uid) event_uid AS "eventUid", started_at AS "startedAt", pages
    FROM luma_guest_sync.sync_history
    WHERE event_uid = ANY(${eventUids as string[]}) AND outcome = 'success'
    ORDER BY event_uid, started_at DESC`;
  return new Map(rows.map((r) => [r.eventUid, { startedAt: new Date(r.startedAt), pages: r.pages }]));
}
