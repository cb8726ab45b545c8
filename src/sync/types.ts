import type { ProviderType } from '../providers/types.ts';

/** What asked for a sync: the daily pass, a freshness tier, a Luma webhook, or a person. */
export const SYNC_TRIGGERS = ['schedule', 'tier', 'webhook', 'manual'] as const;
export type SyncTrigger = (typeof SYNC_TRIGGERS)[number];

/** The SQS message body: one event to sync. Field names are the business flow document's. */
export interface SyncMessage {
  eventUid: string;
  externalEventId: string;
  locationUid: string;
  providerType: ProviderType;
  /** ISO time of the scheduler slot that enqueued it; absent for messages sent by hand. */
  scheduledFor?: string;
  /** What enqueued it; absent in messages older than the field (see triggerOf). */
  trigger?: SyncTrigger;
}

/**
 * The trigger of a message. Messages written before the field existed came from the
 * daily pass when they carry a slot, and from a person otherwise.
 */
export function triggerOf(message: Pick<SyncMessage, 'trigger' | 'scheduledFor'>): SyncTrigger {
  return message.trigger ?? (message.scheduledFor ? 'schedule' : 'manual');
}

/** What one event sync did; logged once as one line and returned to the caller. */
export interface SyncResult {
  eventUid: string;
  providerType: ProviderType;
  pages: number;
  /** Usable guests read from the provider. */
  fetched: number;
  /** Guests whose email matched a directory member. */
  matched: number;
  /** Present when some guests' email matched several members (duplicate accounts): how many such guests. */
  ambiguous?: number;
  /** New "PLEventGuest" rows written (or that would be, in a dry run). */
  created: number;
  /** Provider entries without a usable id or email. */
  skipped: number;
  /** Synced rows removed because their guest left the approved list (opt-in). */
  removed: number;
  dryRun: boolean;
  durationMs: number;
  /** In a dry run with stale removal on: the synced rows a real run would remove (at most 1,000). */
  staleToRemove?: Array<{ memberUid: string; externalGuestId: string }>;
  /**
   * With stale removal on: why it removed nothing this time (skipped_entries, empty_list,
   * share_exceeded; resumed = pages of this read were written without being recorded for
   * removal, so the complete list is unknown).
   */
  staleGuard?: 'skipped_entries' | 'empty_list' | 'share_exceeded' | 'resumed';
  /** The page this attempt started at when it resumed an earlier attempt's checkpoint. */
  resumedAtPage?: number;
}
