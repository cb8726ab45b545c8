/**
 * The abort reason of a sync stopped because its worker is shutting down (the end of the
 * grace period): its checkpoint is kept and its message released, so another replica
 * resumes it. An interruption, not a failure of the event: the history records it as
 * 'interrupted' and `status` does not show the event as failed.
 */
export class SyncInterruptedError extends Error {
  override name = 'SyncInterruptedError';
  readonly kind = 'sync_interrupted';
}
