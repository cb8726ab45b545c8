import type { Sql } from '../db/client.ts';
import type { ProviderType } from '../providers/types.ts';
import { eligibleEventAt, type SyncableEvent } from './discover.ts';
import type { TierCandidate } from './tiers.ts';

/** Successful syncs the guests-per-match ratio is taken over. */
const RECENT_SYNCS = 500;

interface CandidateRow {
  eventUid: string;
  externalEventId: string;
  locationUid: string;
  providerType: ProviderType;
  startDate: string;
  guestLastSyncedAt: string | null;
  lastSuccessAt: string | null;
  lastPages: number | null;
  syncedGuests: number | null;
  guestsPerMatch: number | null;
  lastTierSlot: string | null;
}

/**
 * The syncable events (the daily pass's rule: a known provider, an external id and a
 * location, not ended, not deleted) that start within `horizonMs` of `now`, with what
 * the tick needs to know about each: its last success and page count from the sync
 * history (or, lacking one, its synced rows and the guests per match of recent syncs,
 * for estimatePages), and the last tier slot it was enqueued for. One statement; the
 * history is read with one index probe per event.
 *
 * Raw SQL with text timestamps: Drizzle, sharing this client, turns postgres.js's date
 * parsing off. "PLEvent" dates are UTC timestamps without a zone.
 */
export async function findTierCandidates(
  sql: Sql,
  now: Date,
  horizonMs: number,
): Promise<TierCandidate<SyncableEvent>[]> {
  const until = new Date(now.getTime() + horizonMs).toISOString();
  const rows = await sql<CandidateRow[]>`
    WITH recent AS (
      -- The guests read per member matched, over the last successful syncs of any event.
      SELECT sum(fetched)::float8 / nullif(sum(matched), 0) AS guests_per_match
      FROM (
        SELECT fetched, matched FROM luma_guest_sync.sync_history
        WHERE outcome = 'success' AND matched > 0
        ORDER BY finished_at DESC LIMIT ${RECENT_SYNCS}
      ) s
    )
    SELECT e.uid AS "eventUid", e."externalEventId", e."locationUid",
      e."externalEventProvider"::text AS "providerType",
      to_char(e."startDate", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "startDate",
      to_char(e."guestLastSyncedAt", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "guestLastSyncedAt",
      to_char(h.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "lastSuccessAt",
      h.pages AS "lastPages",
      -- Only where no success tells the cost: one count on the synced-rows index.
      CASE WHEN h.pages IS NULL THEN (
        SELECT count(*)::int FROM "PLEventGuest" g WHERE g."eventUid" = e.uid AND g."externalGuestId" IS NOT NULL
      ) END AS "syncedGuests",
      (SELECT guests_per_match FROM recent) AS "guestsPerMatch",
      to_char(t.slot AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "lastTierSlot"
    FROM "PLEvent" e
    LEFT JOIN LATERAL (
      SELECT started_at, pages FROM luma_guest_sync.sync_history
      WHERE event_uid = e.uid AND outcome = 'success'
      ORDER BY started_at DESC LIMIT 1
    ) h ON true
    LEFT JOIN luma_guest_sync.tier_enqueued t ON t.event_uid = e.uid
    WHERE ${eligibleEventAt(sql, now)}
      AND e."startDate" <= ${until}::timestamptz AT TIME ZONE 'UTC'
    ORDER BY e."startDate", e.id`;
  return rows.map((row) => {
    const lastSuccess = row.lastSuccessAt ?? row.guestLastSyncedAt;
    return {
      event: {
        eventUid: row.eventUid,
        externalEventId: row.externalEventId,
        locationUid: row.locationUid,
        providerType: row.providerType,
      },
      eventUid: row.eventUid,
      startDate: new Date(row.startDate),
      // Events synced before the history existed have only guestLastSyncedAt.
      lastSuccessAt: lastSuccess ? new Date(lastSuccess) : undefined,
      lastPages: row.lastPages ?? undefined,
      syncedGuests: row.syncedGuests ?? undefined,
      guestsPerMatch: row.guestsPerMatch ?? undefined,
      lastTierSlot: row.lastTierSlot ? new Date(row.lastTierSlot) : undefined,
    };
  });
}

/** Remembers the slot each event was enqueued for, and forgets slots older than a month. */
export async function recordTierEnqueued(sql: Sql, eventUids: readonly string[], slot: Date): Promise<void> {
  const at = slot.toISOString();
  await sql`
    WITH forgotten AS (
      DELETE FROM luma_guest_sync.tier_enqueued WHERE slot < ${at}::timestamptz - interval '30 days'
    )
    INSERT INTO luma_guest_sync.tier_enqueued (event_uid, slot)
    SELECT uid, ${at}::timestamptz FROM unnest(${eventUids as string[]}::text[]) AS uid
    ON CONFLICT (event_uid) DO UPDATE SET slot = greatest(tier_enqueued.slot, excluded.slot)`;
}
