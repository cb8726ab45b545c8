import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { plEvent } from '../db/schema.ts';
import { PermanentError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { SyncMessage } from './types.ts';

export interface SyncTarget {
  eventUid: string;
  locationUid: string;
  externalEventId: string;
}

/**
 * The event as the directory has it now. A message may sit in the queue for hours;
 * the directory is the source of truth for the event's location and Luma id.
 */
export async function loadTarget(db: Db, message: SyncMessage, log: Logger): Promise<SyncTarget> {
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
