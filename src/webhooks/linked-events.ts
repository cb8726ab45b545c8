import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { plEvent } from '../db/schema.ts';
import type { SyncableEvent } from '../schedule/discover.ts';
import { eligibleAt } from '../schedule/discover.ts';

/** Most directory events one Luma event may fan out to: a bound on what one delivery can cost. */
export const MAX_LINKED_EVENTS = 10;

/**
 * The syncable directory events linked to one Luma event (by the daily pass's rule, so
 * a delivery for an ended or deleted event syncs nothing). Uses the index on
 * (externalEventProvider, externalEventId).
 */
export async function findLinkedEvents(deps: { db: Db }, lumaEventId: string, now: Date): Promise<SyncableEvent[]> {
  const rows = await deps.db
    .select({
      eventUid: plEvent.uid,
      externalEventId: plEvent.externalEventId,
      locationUid: plEvent.locationUid,
      providerType: plEvent.externalEventProvider,
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
  }));
}
