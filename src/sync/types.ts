import type { ProviderType } from '../providers/types.ts';

/** The SQS message body: one event to sync. Field names are the business flow document's. */
export interface SyncMessage {
  eventUid: string;
  externalEventId: string;
  locationUid: string;
  providerType: ProviderType;
  /** ISO time of the scheduler slot that enqueued it; absent for messages sent by hand. */
  scheduledFor?: string;
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
  /** With stale removal on: why it removed nothing this time (skipped_entries, empty_list, share_exceeded). */
  staleGuard?: 'skipped_entries' | 'empty_list' | 'share_exceeded';
}
