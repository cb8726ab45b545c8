/**
 * Step 2 after a sync (shared/spec/irl-push.md): bring the IRL_GATHERING push
 * notifications already created for the synced gatherings up to date with the new
 * guests. It never creates a notification and never touches link, isSent, sentAt,
 * createdAt or read statuses.
 */
import type { Db } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { buildPayloadV1, isRuleKind, notificationText, type RuleKind, refreshPayloadV1 } from './push-payload.ts';
import {
  candidateKey,
  countCurrentEvents,
  loadActiveConfig,
  loadAttendees,
  loadLocations,
  loadSentNotifications,
  loadWindowCandidates,
  type NotificationUpdate,
  pushWindows,
  type SentNotification,
  writeNotifications,
} from './push-queries.ts';

export interface NotificationRefresh {
  /** Notifications rewritten. */
  updated: number;
}

/**
 * Rebuilds the payload of every version-1 notification of these locations from the
 * candidates in its rule's window; with none there, keeps the payload and refreshes
 * only who is going and the start countdown. Does nothing without an active,
 * enabled config.
 *
 * At most seven statements whatever the number of locations and notifications: the
 * config, the notifications, four reads covering all their gatherings, one write. Run
 * it inside a transaction (runPostSyncPush does): the notifications are read FOR
 * UPDATE, so nothing can change them between the read and the write.
 */
export async function refreshSentNotifications(
  deps: { db: Db; now?: () => Date; log?: Logger },
  locationUids: string[],
): Promise<NotificationRefresh> {
  const { db, log } = deps;
  const locations = [...new Set(locationUids.filter(Boolean))];
  if (locations.length === 0) return { updated: 0 };
  const config = await loadActiveConfig(db);
  if (!config?.enabled) return { updated: 0 };
  const windows = pushWindows(deps.now?.() ?? new Date(), config);
  const { now } = windows;

  const sent: Array<SentNotification & { ruleKind: RuleKind }> = [];
  for (const notification of await loadSentNotifications(db, locations)) {
    const ruleKind = notification.metadata.ruleKind;
    // The directory's own refresh skips these too: without a rule kind there is no window.
    if (isRuleKind(ruleKind)) sent.push({ ...notification, ruleKind });
    else log?.debug({ pushUid: notification.uid, ruleKind }, 'push notification without a known ruleKind skipped');
  }
  if (sent.length === 0) return { updated: 0 };

  const gatherings = [...new Set(sent.map((n) => n.gatheringUid))];
  const [candidates, locationRows, eventTotals, attendeesByLocation] = await Promise.all([
    loadWindowCandidates(db, gatherings, windows),
    loadLocations(db, gatherings),
    countCurrentEvents(db, gatherings, now),
    loadAttendees(db, gatherings, now),
  ]);

  const updates: NotificationUpdate[] = sent.map((notification) => {
    const { gatheringUid, ruleKind } = notification;
    const attendees = attendeesByLocation.get(gatheringUid) ?? { total: 0, topAttendees: [] };
    const items = candidates.get(candidateKey(gatheringUid, ruleKind));
    const metadata = items
      ? {
          ...buildPayloadV1({
            now,
            ruleKind,
            gatheringUid,
            location: locationRows.get(gatheringUid) ?? null,
            eventsTotal: eventTotals.get(gatheringUid) ?? 0,
            items,
            attendees,
          }),
          ruleKind,
        }
      : refreshPayloadV1(notification.metadata, { now, gatheringUid, attendees });
    return {
      uid: notification.uid,
      ...notificationText(ruleKind, metadata),
      metadata,
      seenMetadataText: notification.metadataText,
    };
  });

  const written = new Set(await writeNotifications(db, updates, now));
  const changedMeanwhile = updates.filter((u) => !written.has(u.uid)).map((u) => u.uid);
  if (changedMeanwhile.length > 0) {
    // Cannot happen inside runPostSyncPush's transaction, which holds the rows since the
    // read; a caller without one loses only to a writer it did not lock out.
    log?.warn(
      { pushUids: changedMeanwhile },
      'push notifications changed between their read and the write (no transaction held them); left as they are',
    );
  }
  return { updated: written.size };
}
