/**
 * What follows every successful event sync (shared/spec/irl-push.md): refresh the
 * synced events' push candidates, then the notifications already created for their
 * gatherings.
 */
import type { Db } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { type CandidateRefresh, refreshPushCandidates } from './push-candidates.ts';
import { type NotificationRefresh, refreshSentNotifications } from './push-notifications.ts';

export interface PostSyncPushResult {
  /** null when there is no active, enabled push config: then nothing was done. */
  candidates: CandidateRefresh | null;
  notifications: NotificationRefresh | null;
}

export async function runPostSyncPush(
  deps: { db: Db; now?: () => Date; log?: Logger },
  events: Array<{ eventUid: string; locationUid: string | null }>,
): Promise<PostSyncPushResult> {
  // One instant for both steps, so their windows agree.
  const at = deps.now?.() ?? new Date();
  const stepDeps = { ...deps, now: () => at };
  const candidates = await refreshPushCandidates(
    stepDeps,
    events.map((e) => e.eventUid),
  );
  if (candidates === null) return { candidates: null, notifications: null };
  const locationUids = [...new Set(events.flatMap((e) => (e.locationUid ? [e.locationUid] : [])))];
  const notifications = await refreshSentNotifications(stepDeps, locationUids);
  return { candidates, notifications };
}
