import { and, asc, eq, gt, inArray, isNotNull, sql } from 'drizzle-orm';
import type { Db, Sql } from '../db/client.ts';
import { plEvent } from '../db/schema.ts';
import { PROVIDER_TYPES, type ProviderType } from '../providers/types.ts';

/** One event the scheduler enqueues: the fields of its SyncMessage, read from the directory. */
export interface SyncableEvent {
  eventUid: string;
  externalEventId: string;
  locationUid: string;
  providerType: ProviderType;
}

/** Rows per keyset page: small enough to stay cheap in memory, large enough to need few round trips. */
export const DISCOVERY_PAGE_SIZE = 1000;

/**
 * The business document's eligibility rule: linked to a known provider, with a
 * non-blank external id and a location, ending strictly after `now`, not deleted.
 */
export function eligibleAt(now: Date) {
  return and(
    inArray(plEvent.externalEventProvider, [...PROVIDER_TYPES]),
    isNotNull(plEvent.externalEventId),
    sql`btrim(${plEvent.externalEventId}) <> ''`,
    isNotNull(plEvent.locationUid),
    sql`btrim(${plEvent.locationUid}) <> ''`,
    gt(plEvent.endDate, now),
    eq(plEvent.isDeleted, false),
  );
}

/**
 * eligibleAt for raw postgres.js statements, as a condition on "PLEvent" aliased `e`:
 * the same rule, for the statements that read the sync history beside the events
 * (the tier tick, `status`).
 */
export function eligibleEventAt(sql: Sql, now: Date) {
  return sql`e."externalEventProvider"::text = ANY(${[...PROVIDER_TYPES]})
    AND btrim(coalesce(e."externalEventId", '')) <> ''
    AND btrim(coalesce(e."locationUid", '')) <> ''
    AND e."endDate" > ${now.toISOString()}::timestamptz AT TIME ZONE 'UTC'
    AND e."isDeleted" = false`;
}

/**
 * Every syncable event, page by page in id order. Keyset paging (id > last id) keeps
 * each query an index range scan however many events there are, and lets the caller
 * enqueue one page before the next is read instead of holding them all in memory.
 */
export async function* findSyncableEventPages(
  deps: { db: Db },
  now: Date,
  pageSize: number = DISCOVERY_PAGE_SIZE,
): AsyncGenerator<SyncableEvent[]> {
  let afterId = 0;
  for (;;) {
    const rows = await deps.db
      .select({
        id: plEvent.id,
        eventUid: plEvent.uid,
        externalEventId: plEvent.externalEventId,
        locationUid: plEvent.locationUid,
        providerType: plEvent.externalEventProvider,
      })
      .from(plEvent)
      .where(and(eligibleAt(now), gt(plEvent.id, afterId)))
      .orderBy(asc(plEvent.id))
      .limit(pageSize);
    if (rows.length === 0) return;
    afterId = rows[rows.length - 1]!.id;
    // The WHERE clause already excludes nulls; the narrowing here is for the type only.
    yield rows.map((row) => ({
      eventUid: row.eventUid,
      externalEventId: row.externalEventId!,
      locationUid: row.locationUid!,
      providerType: row.providerType!,
    }));
    if (rows.length < pageSize) return;
  }
}

/** Every syncable event at `now`, in one array (10,000 small objects are a few MB). */
export async function findSyncableEvents(deps: { db: Db }, now: Date): Promise<SyncableEvent[]> {
  const events: SyncableEvent[] = [];
  for await (const page of findSyncableEventPages(deps, now)) events.push(...page);
  return events;
}
