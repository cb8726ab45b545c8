/**
 * What follows every successful event sync (shared/spec/irl-push.md): refresh the
 * synced events' push candidates, then the notifications already created for their
 * gatherings.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { withTransaction } from '../db/transaction.ts';
import type { Logger } from '../log.ts';
import { type CandidateRefresh, refreshPushCandidates } from './push-candidates.ts';
import { type NotificationRefresh, refreshSentNotifications } from './push-notifications.ts';

export interface PostSyncPushResult {
  /** null when there is no active, enabled push config: then nothing was done. */
  candidates: CandidateRefresh | null;
  notifications: NotificationRefresh | null;
}

/** The advisory-lock namespace (first key) of gathering (location) locks; transaction-scoped. */
const GATHERING_LOCK_NAMESPACE = 0x4c475302;

/**
 * Runs both steps in one transaction that first locks the gatherings (a transaction-
 * scoped advisory lock per location uid, taken in sorted order so two refreshes cannot
 * deadlock). Refreshes of one gathering therefore run one after the other, each reading
 * after the previous one committed, and guests are committed before their sync's
 * refresh starts: so the last refresh of a gathering sees every committed guest,
 * however the syncs of its events interleave and on however many replicas. Syncs of
 * other gatherings do not wait.
 */
export async function runPostSyncPush(
  deps: { db: Db; now?: () => Date; log?: Logger },
  events: Array<{ eventUid: string; locationUid: string | null }>,
): Promise<PostSyncPushResult> {
  return withTransaction(deps.db, (tx) => refreshPushInTransaction({ ...deps, db: tx }, events));
}

/**
 * runPostSyncPush's work inside a transaction the caller opened (`deps.db` is it): a
 * sync's finish runs it in its fenced transaction (finish-sync.ts), so the refresh is
 * written only while the sync still holds its event's claim. The gathering locks are
 * transaction-scoped, so this works through a transaction-mode pooler.
 */
export async function refreshPushInTransaction(
  deps: { db: Db; now?: () => Date; log?: Logger },
  events: Array<{ eventUid: string; locationUid: string | null }>,
): Promise<PostSyncPushResult> {
  const db = deps.db;
  const locationUids = [...new Set(events.flatMap((e) => (e.locationUid ? [e.locationUid] : [])))].sort();
  await db.execute(sql`
    SELECT pg_advisory_xact_lock(${GATHERING_LOCK_NAMESPACE}::int, hashtext(uid))
    FROM (SELECT unnest(${sql.param(locationUids)}::text[]) AS uid ORDER BY 1) ordered`);
  // One instant for both steps, so their windows agree.
  const at = deps.now?.() ?? new Date();
  const stepDeps = { ...deps, db, now: () => at };
  const candidates = await refreshPushCandidates(
    stepDeps,
    events.map((e) => e.eventUid),
  );
  if (candidates === null) return { candidates: null, notifications: null };
  const notifications = await refreshSentNotifications(stepDeps, locationUids);
  return { candidates, notifications };
}
