import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { plEvent } from '../db/schema.ts';
import type { SyncableEvent } from '../schedule/discover.ts';
import { eligibleAt } from '../schedule/discover.ts';

/** Most directory events one Luma event may fan out to: a bound on what one delivery can cost. */
export const MAX_LINKED_EVENTS = 10;

/** A linked event, with the page count of its last successful sync: a sync's estimated cost. */
export interface LinkedEvent extends SyncableEvent {
  lastPages?: number;
}

/**
 * The syncable directory events linked to one Luma event (by the daily pass's rule, so
 * a delivery for an ended or deleted event syncs nothing). Uses the index on
 * (externalEventProvider, externalEventId).
 */
export async function findLinkedEvents(deps: { db: Db }, lumaEventId: string, now: Date): Promise<LinkedEvent[]> {
  const rows = await deps.db
    .select({
      eventUid: plEvent.uid,
      externalEventId: plEvent.externalEventId,
      locationUid: plEvent.locationUid,
      providerType: plEvent.externalEventProvider,
      // One probe of the history index (event, started_at) per linked event.
      lastPages: sql<number | null>`(SELECT h.pages FROM luma_guest_sync.sync_history h
        WHERE h.event_uid = ${plEvent.uid} AND h.outcome = 'success' ORDER BY h.started_at DESC LIMIT 1)`,
    })
    .from(plEvent)
    .where(and(eligibleAt(now), eq(plEvent.externalEventProvider, 'LUMA'), eq(plEvent.externalEventId, lumaEventId)))
    .orderBy(plEvent.id)
    .limit(MAX_LINKED_EVENTS);
  return rows.map((row) => ({
    eventUid: row.eventUid,
    externalEventId: row.externalEventId!,
    locationUid: row.locationUid!,
    providerType: row.providerType!,
    ...(row.lastPages ? { lastPages: Number(row.lastPages) } : {}),
  }));
}
