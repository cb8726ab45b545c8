import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { plEvent } from '../db/schema.ts';
import { PermanentError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { getProvider, type ProviderRegistry } from '../providers/registry.ts';
import { addPageGuests } from './add-page-guests.ts';
import { withEventLock } from './event-lock.ts';
import { followEventLocation } from './follow-location.ts';
import { withIndexProbes } from './index-probes.ts';
import { runPostSyncPush } from './post-sync.ts';
import { removeStaleGuests } from './remove-stale.ts';
import type { SyncMessage, SyncResult } from './types.ts';

export interface SyncDeps {
  db: Db;
  providers: ProviderRegistry;
  log: Logger;
  now?: () => Date;
  removeStale?: { enabled: boolean; maxShare: number };
  /** Told about every finished page and every finished sync, for metrics. */
  observer?: SyncObserver;
}

export interface SyncObserver {
  /** The stale-removal guard kept guests (reason: skipped_entries, empty_list or share_exceeded). */
  staleGuard?(guard: string): void;
}

export interface SyncOptions {
  dryRun?: boolean;
  signal?: AbortSignal;
}

/**
 * Syncs one event start to end: reads the provider's whole approved list page by page,
 * adds the matched members who are not yet guests, then — only when every page
 * succeeded — moves synced rows to the event's current location, removes stale guests
 * (opt-in), records guestLastSyncedAt and refreshes the IRL push data. Any failure
 * before that leaves guestLastSyncedAt as it was; rows already added stay, and a
 * redelivery completes the rest without duplicates.
 *
 * The whole sync holds the event's lock (event-lock.ts): a second sync of the same event
 * meanwhile fails at once with the retryable EventSyncRunningError.
 */
export async function syncEvent(deps: SyncDeps, message: SyncMessage, options: SyncOptions = {}): Promise<SyncResult> {
  const log = deps.log.child({ component: 'PLEventGuestSyncService', eventUid: message.eventUid });
  const result = await withEventLock(deps.db, message.eventUid, (lockLost) =>
    syncLockedEvent(deps, log, message, {
      ...options,
      signal: options.signal ? AbortSignal.any([options.signal, lockLost]) : lockLost,
    }),
  );
  // Logged once the lock is released, so that whoever sees this line can sync the event again.
  log.info(result, 'sync complete');
  return result;
}

async function syncLockedEvent(
  deps: SyncDeps,
  log: Logger,
  message: SyncMessage,
  options: SyncOptions,
): Promise<SyncResult> {
  const started = performance.now();
  const now = deps.now ?? (() => new Date());
  const dryRun = options.dryRun ?? false;
  const provider = getProvider(deps.providers, message.providerType);
  const target = await loadTarget(deps.db, message, log);

  log.info({ providerType: message.providerType, externalEventId: target.externalEventId, dryRun }, 'sync start');
  const totals = { matched: 0, created: 0 };
  // Stale removal keeps a row whose Luma guest id, or whose member, is on the list.
  const keep = deps.removeStale?.enabled ? { guestIds: new Set<string>(), memberUids: new Set<string>() } : undefined;
  const counted = dryRun ? new Set<string>() : undefined;

  const summary = await withIndexProbes(deps.db, (pageDb) =>
    provider.fetchGuestsInBatches(
      async (batch) => {
        const outcome = await addPageGuests({ db: pageDb, now }, target, batch.guests, {
          dryRun,
          alreadyCounted: counted,
        });
        for (const guest of batch.guests) keep?.guestIds.add(guest.externalGuestId);
        // A skipped entry that has a guest id (its email was unusable) still keeps that id's row.
        for (const id of batch.skippedGuestIds) keep?.guestIds.add(id);
        for (const uid of outcome.matchedMemberUids) keep?.memberUids.add(uid);
        for (const uid of outcome.createdMemberUids) counted?.add(uid);
        const matchedGuests = outcome.matchedGuests;
        const created = outcome.createdMemberUids.length;
        totals.matched += matchedGuests;
        totals.created += created;
        const page = { fetched: batch.guests.length, matched: matchedGuests, created, skipped: batch.skipped };
        log.debug({ page: batch.page, ...page }, 'page processed');
      },
      {
        eventUid: message.eventUid,
        externalEventId: target.externalEventId,
        signal: options.signal,
        // The list is read again from page 1: count matches once. Rows created stay created
        // (the second pass finds them), and the member sets are sets.
        onRestart: () => {
          totals.matched = 0;
        },
      },
    ),
  );

  // Synced rows follow a moved event; the gatherings they left are refreshed below too.
  const followed = dryRun
    ? { moved: 0, leftLocationUids: [] }
    : await followEventLocation({ db: deps.db, now }, target);
  if (followed.moved > 0) log.info(followed, 'event moved: synced guests follow it to its current location');

  let removed = 0;
  let staleToRemove: SyncResult['staleToRemove'];
  let staleGuard: SyncResult['staleGuard'];
  if (keep && deps.removeStale) {
    const removal = await removeStaleGuests(deps, {
      eventUid: target.eventUid,
      fetched: summary.fetched,
      unidentified: summary.unidentified,
      keepGuestIds: [...keep.guestIds],
      keepMemberUids: [...keep.memberUids],
      maxShare: deps.removeStale.maxShare,
      dryRun,
    });
    // A dry run reports what a real run would remove: nothing when a guard trips.
    removed = removal.guard ? 0 : dryRun ? removal.stale : removal.removed;
    if (dryRun && !removal.guard) staleToRemove = removal.staleRows;
    if (removal.guard) {
      staleGuard = removal.guard;
      deps.observer?.staleGuard?.(removal.guard);
      const figures = {
        ...removal,
        skipped: summary.skipped,
        unidentified: summary.unidentified,
        fetched: summary.fetched,
      };
      log.warn({ ...figures, maxShare: deps.removeStale.maxShare }, 'stale guests kept: removal guard tripped');
    }
  }

  if (!dryRun) {
    options.signal?.throwIfAborted();
    const syncedAt = now();
    await deps.db
      .update(plEvent)
      .set({ guestLastSyncedAt: syncedAt, updatedAt: syncedAt })
      .where(eq(plEvent.uid, target.eventUid));
    const left = followed.leftLocationUids.map((locationUid) => ({ eventUid: target.eventUid, locationUid }));
    await runPostSyncPush({ db: deps.db, now, log }, [target, ...left]);
  }

  const result: SyncResult = {
    eventUid: message.eventUid,
    providerType: message.providerType,
    pages: summary.pages,
    fetched: summary.fetched,
    matched: totals.matched,
    created: totals.created,
    skipped: summary.skipped,
    removed,
    dryRun,
    durationMs: Math.round(performance.now() - started),
    ...(staleToRemove ? { staleToRemove } : {}),
    ...(staleGuard ? { staleGuard } : {}),
  };
  return result;
}

interface SyncTarget {
  eventUid: string;
  locationUid: string;
  externalEventId: string;
}

/**
 * The event as the directory has it now. A message may sit in the queue for hours;
 * the directory is the source of truth for the event's location and Luma id.
 */
async function loadTarget(db: Db, message: SyncMessage, log: Logger): Promise<SyncTarget> {
  const [event] = await db
    .select({
      uid: plEvent.uid,
      locationUid: plEvent.locationUid,
      externalEventId: plEvent.externalEventId,
      isDeleted: plEvent.isDeleted,
      provider: sql<string | null>`${plEvent.externalEventProvider}::text`,
    })
    .from(plEvent)
    .where(eq(plEvent.uid, message.eventUid));
  if (!event) throw new PermanentError('event_not_found', `Event ${message.eventUid} does not exist in the directory`);
  if (event.isDeleted) throw new PermanentError('event_deleted', `Event ${message.eventUid} is deleted`);
  if (!event.locationUid)
    throw new PermanentError('event_without_location', `Event ${message.eventUid} has no location`);
  if (!event.externalEventId || event.provider !== message.providerType) {
    throw new PermanentError(
      'event_not_linked',
      `Event ${message.eventUid} is no longer linked to a ${message.providerType} event`,
    );
  }
  if (event.locationUid !== message.locationUid || event.externalEventId !== message.externalEventId) {
    log.warn(
      {
        messageLocationUid: message.locationUid,
        locationUid: event.locationUid,
        externalEventId: event.externalEventId,
      },
      'message is stale: syncing with the event as the directory has it now',
    );
  }
  return { eventUid: event.uid, locationUid: event.locationUid, externalEventId: event.externalEventId };
}
