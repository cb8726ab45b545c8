/**
 * The consumer's sync of one message: the sync itself, its attempt in the history, and
 * its metrics. A refused sync (another holds the event's claim) and a deferred one (a
 * Retry-After beyond LUMA_MAX_WAIT_IN_SYNC_SECONDS) did not fail: they are recorded as
 * such and counted in lgs_sync_refusals_total, never in the failure counts.
 */
import { errorKind } from './errors.ts';
import { outcomeOfError, withSyncHistory } from './history/record-attempt.ts';
import type { Metrics } from './http/metrics.ts';
import { SyncInterruptedError } from './sync/interrupted.ts';
import { type SyncDeps, syncEvent } from './sync/sync-event.ts';
import { type SyncMessage, type SyncResult, triggerOf } from './sync/types.ts';

export interface RecordedSyncDeps {
  sync: SyncDeps;
  history: Parameters<typeof withSyncHistory>[0];
  metrics: Pick<Metrics, 'recordSyncTrigger' | 'recordSyncRefusal' | 'recordSyncFailure'>;
  /** Errors this wrapper has counted, so the consumer's onFailure does not count them again. */
  counted: WeakSet<object>;
}

export function createRecordedSync(deps: RecordedSyncDeps) {
  const { metrics } = deps;
  return async (message: SyncMessage, signal: AbortSignal): Promise<SyncResult> => {
    const started = performance.now();
    // Every line of the sync names what asked for it; the attempt goes to the history.
    const trigger = triggerOf(message);
    const traced = { ...deps.sync, log: deps.sync.log.child({ trigger }) };
    try {
      const result = await withSyncHistory(deps.history, { eventUid: message.eventUid, trigger }, () =>
        syncEvent(traced, message, { signal }).catch((err: unknown) => {
          // Whatever the aborted sync threw on its way out, shutdown is why it stopped.
          throw signal.aborted && signal.reason instanceof SyncInterruptedError ? signal.reason : err;
        }),
      );
      metrics.recordSyncTrigger(trigger, 'success');
      return result;
    } catch (err) {
      const outcome = outcomeOfError(err);
      metrics.recordSyncTrigger(trigger, outcome);
      if (outcome === 'refused') metrics.recordSyncRefusal('claim_held');
      else if (outcome === 'deferred' || outcome === 'interrupted') metrics.recordSyncRefusal(outcome);
      else metrics.recordSyncFailure(errorKind(err), performance.now() - started);
      if (err && typeof err === 'object') deps.counted.add(err);
      throw err;
    }
  };
}
