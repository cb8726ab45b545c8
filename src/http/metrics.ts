import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { HISTORY_LOSS_REASONS } from '../history/backlog.ts';
import { SYNC_TRIGGERS, type SyncResult } from '../sync/types.ts';
import { WEBHOOK_OUTCOMES } from '../webhooks/server.ts';

/** Sync durations run from a sub-second empty list to a 30-minute million-guest event. */
const SYNC_DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800];

/** The stale-removal guard reasons of src/sync/remove-stale.ts, pre-initialised so rate() sees a 0. */
const STALE_GUARD_REASONS = ['skipped_entries', 'empty_list', 'share_exceeded', 'resumed'];
/** HeartbeatFailureReason of src/consume/heartbeat.ts. */
const HEARTBEAT_FAILURE_REASONS = ['receipt_invalid', 'unreachable', 'rejected'];

export type SyncOutcome = 'success' | 'failure' | 'dry_run';

/** Why a sync gave way instead of running to its end; each is a label of lgs_sync_refusals_total. */
export const SYNC_REFUSAL_REASONS = ['claim_held', 'deferred', 'interrupted'] as const;
export type SyncRefusalReason = (typeof SYNC_REFUSAL_REASONS)[number];

/** The worker's Prometheus instruments, on a registry of their own (never prom-client's global one). */
export interface Metrics {
  readonly registry: Registry;
  /** The Content-Type of `registry.metrics()`'s text. */
  readonly contentType: string;
  /** One finished sync. A dry run only observes its duration: it wrote nothing. */
  recordSyncResult(result: SyncResult): void;
  /** One failed sync; `kind` is errorKind(err) from src/errors.ts. */
  recordSyncFailure(kind: string, durationMs: number): void;
  /** One scheduler run: events put on the queue, and those SendMessageBatch reported failed. */
  recordEnqueueRun(run: { enqueued: number; failed: number }): void;
  /** Messages waiting in the queue's dead-letter queue (from its redrive policy). */
  setDeadLetterDepth(messages: number): void;
  /** One sync attempt by what asked for it (src/sync/types.ts SYNC_TRIGGERS) and how it ended. */
  recordSyncTrigger(trigger: string, outcome: 'success' | 'failure' | 'refused' | 'deferred' | 'interrupted'): void;
  /**
   * A sync that did not fail but gave way (never counted in lgs_sync_errors_total):
   * claim_held = refused because another sync holds the event's claim; deferred = stopped
   * to wait out a Retry-After longer than LUMA_MAX_WAIT_IN_SYNC_SECONDS; interrupted = its
   * worker shut down mid-sync (another resumes it).
   */
  recordSyncRefusal(reason: SyncRefusalReason): void;
  /** One tick of the freshness schedule (src/schedule/tier-tick.ts). */
  recordTierTick(report: {
    enqueuedByTier: Record<string, number>;
    deferred: number;
    oldestDueSeconds: Record<string, number>;
  }): void;
  /** One Luma webhook delivery by how it ended (src/webhooks/server.ts WEBHOOK_OUTCOMES). */
  webhookDelivery(outcome: string): void;
  /** A scheduler slot skipped because the previous run was still going. */
  enqueueRunSkipped(): void;
  /** A cron slot that never ran: it was later than the catch-up window when the process could fire it. */
  enqueueSlotMissed(): void;
  /** A visibility extension that failed for a reason other than the race with a sync's end. */
  heartbeatFailure(reason: string): void;
  /** The stale-removal guard kept guests; fits SyncObserver.staleGuard of src/sync/sync-event.ts. */
  staleGuard(reason: string): void;
  /** Luma answered 429. */
  rateLimited(): void;
  /** One request sent to Luma. */
  lumaRequest(): void;
  /** The configured Luma request budget, per minute, for the dashboard's budget-use ratio. */
  setRateBudget(requestsPerMinute: number): void;
  /** A transient Luma failure retried in the process; `kind` as in errorKind (luma_unavailable, luma_timeout). */
  lumaRetry(kind: string): void;
  setQueueDepth(visible: number, inFlight: number): void;
  /** Sync attempts that never reached the history, by reason (src/history/backlog.ts HISTORY_LOSS_REASONS). */
  historyAttemptsLost(reason: string, count: number): void;
  /** Sync attempts waiting for the database to be written to the history. */
  setHistoryBacklog(size: number): void;
}

export function createMetrics(options: { now?: () => number } = {}): Metrics {
  const now = options.now ?? Date.now;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'lgs_' });
  const registers = [registry];

  const eventsEnqueued = new Counter({
    name: 'lgs_events_enqueued_total',
    help: 'Events put on the sync queue by the scheduler.',
    registers,
  });
  const enqueueFailed = new Counter({
    name: 'lgs_events_enqueue_failed_total',
    help: 'Events the scheduler could not put on the queue (failed SendMessageBatch entries).',
    registers,
  });
  const lastRunEvents = new Gauge({
    name: 'lgs_enqueue_last_run_events',
    help: 'Events enqueued by the most recent scheduler run.',
    registers,
  });
  const lastRunTime = new Gauge({
    name: 'lgs_enqueue_last_run_timestamp_seconds',
    help: 'Unix time at which the most recent scheduler run of this process finished enqueueing.',
    registers,
  });
  const runsSkipped = new Counter({
    name: 'lgs_enqueue_runs_skipped_total',
    help: 'Scheduler runs skipped because the previous run had not finished.',
    registers,
  });
  const guests = {
    fetched: new Counter({ name: 'lgs_guests_fetched_total', help: 'Usable guests read from providers.', registers }),
    matched: new Counter({
      name: 'lgs_guests_matched_total',
      help: 'Guests whose email matched a member.',
      registers,
    }),
    created: new Counter({ name: 'lgs_guests_created_total', help: 'Guest rows written.', registers }),
    skipped: new Counter({
      name: 'lgs_guests_skipped_total',
      help: 'Provider entries without a usable id or email.',
      registers,
    }),
    removed: new Counter({
      name: 'lgs_guests_removed_total',
      help: 'Synced guest rows removed as stale.',
      registers,
    }),
  };
  const staleGuardTripped = new Counter({
    name: 'lgs_stale_removal_guard_total',
    help: 'Syncs whose stale-guest removal was held back by a guard.',
    labelNames: ['reason'] as const,
    registers,
  });
  const syncDuration = new Histogram({
    name: 'lgs_sync_duration_seconds',
    help: 'Duration of one event sync.',
    labelNames: ['outcome'] as const,
    buckets: SYNC_DURATION_BUCKETS,
    registers,
  });
  const syncErrors = new Counter({
    name: 'lgs_sync_errors_total',
    help: 'Failed event syncs by error kind.',
    labelNames: ['kind'] as const,
    registers,
  });
  const syncRefusals = new Counter({
    name: 'lgs_sync_refusals_total',
    help: 'Syncs that gave way without failing, by reason: claim_held (another sync holds the event), deferred (a Retry-After longer than LUMA_MAX_WAIT_IN_SYNC_SECONDS; the message comes back after it).',
    labelNames: ['reason'] as const,
    registers,
  });
  const syncsByTrigger = new Counter({
    name: 'lgs_syncs_total',
    help: 'Event sync attempts by trigger (schedule, tier, webhook, manual) and outcome.',
    labelNames: ['trigger', 'outcome'] as const,
    registers,
  });
  const tierEnqueued = new Counter({
    name: 'lgs_tier_events_enqueued_total',
    help: 'Events put on the sync queue by the freshness tick, by tier (its horizon).',
    labelNames: ['tier'] as const,
    registers,
  });
  const tierDeferred = new Counter({
    name: 'lgs_tier_events_deferred_total',
    help: 'Due events a freshness tick left for a later one because its request budget was spent.',
    registers,
  });
  const tierOldestDue = new Gauge({
    name: 'lgs_tier_oldest_due_age_seconds',
    help: "Per tier, at the last freshness tick: how long the tier's longest-waiting due event had been due.",
    labelNames: ['tier'] as const,
    registers,
  });
  const webhookDeliveries = new Counter({
    name: 'lgs_webhook_deliveries_total',
    help: 'Luma webhook deliveries by outcome (accepted, coalesced, capped, unknown_event, ignored, bad_request, unauthorized, too_large, unavailable).',
    labelNames: ['outcome'] as const,
    registers,
  });
  const lumaRateLimited = new Counter({
    name: 'lgs_luma_rate_limited_total',
    help: 'Luma requests answered 429.',
    registers,
  });
  const lumaRequests = new Counter({ name: 'lgs_luma_requests_total', help: 'Requests sent to Luma.', registers });
  const slotsMissed = new Counter({
    name: 'lgs_enqueue_slots_missed_total',
    help: 'Cron slots that never ran: later than the catch-up window when the process could fire them.',
    registers,
  });
  const heartbeatFailures = new Counter({
    name: 'lgs_sqs_heartbeat_failures_total',
    help: 'Failed visibility extensions of messages being synced, by reason.',
    labelNames: ['reason'] as const,
    registers,
  });
  const rateBudget = new Gauge({
    name: 'lgs_luma_rate_budget_per_minute',
    help: 'Configured Luma request budget per minute (for every replica on the key with the shared scope).',
    registers,
  });
  const lumaRetries = new Counter({
    name: 'lgs_luma_retries_total',
    help: 'Transient Luma failures (5xx, 408, 425, resets, timeouts) retried in the process, by kind; 429s are lgs_luma_rate_limited_total.',
    labelNames: ['kind'] as const,
    registers,
  });
  const queueDepth = new Gauge({
    name: 'lgs_sqs_queue_depth',
    help: 'Approximate messages on the sync queue: visible (waiting) and in_flight (received, not yet deleted).',
    labelNames: ['state'] as const,
    registers,
  });
  const deadLetterDepth = new Gauge({
    name: 'lgs_sqs_dlq_depth',
    help: "Approximate messages in the sync queue's dead-letter queue: events that failed every delivery.",
    registers,
  });
  const historyLost = new Counter({
    name: 'lgs_sync_history_lost_total',
    help: 'Sync attempts never written to the history, by reason: shutdown (the database did not come back before exit), backlog_full, rejected.',
    labelNames: ['reason'] as const,
    registers,
  });
  const historyBacklog = new Gauge({
    name: 'lgs_sync_history_backlog',
    help: 'Sync attempts kept in the process until the database is back to take their history rows.',
    registers,
  });
  const lastSuccess = new Gauge({
    name: 'lgs_last_successful_sync_timestamp_seconds',
    help: 'Unix time of the last successful event sync by this process.',
    registers,
  });

  // Known label values start at 0 so a first increment shows up as a rate, not a new series.
  for (const reason of STALE_GUARD_REASONS) staleGuardTripped.inc({ reason }, 0);
  for (const outcome of ['success', 'failure'] as const) {
    syncDuration.zero({ outcome });
    for (const trigger of SYNC_TRIGGERS) syncsByTrigger.inc({ trigger, outcome }, 0);
  }
  for (const reason of SYNC_REFUSAL_REASONS) syncRefusals.inc({ reason }, 0);
  for (const outcome of WEBHOOK_OUTCOMES) webhookDeliveries.inc({ outcome }, 0);
  for (const reason of HEARTBEAT_FAILURE_REASONS) heartbeatFailures.inc({ reason }, 0);
  for (const reason of HISTORY_LOSS_REASONS) historyLost.inc({ reason }, 0);

  return {
    registry,
    contentType: registry.contentType,
    recordSyncResult(result) {
      const seconds = result.durationMs / 1000;
      if (result.dryRun) {
        syncDuration.observe({ outcome: 'dry_run' }, seconds);
        return;
      }
      syncDuration.observe({ outcome: 'success' }, seconds);
      guests.fetched.inc(result.fetched);
      guests.matched.inc(result.matched);
      guests.created.inc(result.created);
      guests.skipped.inc(result.skipped);
      guests.removed.inc(result.removed);
      lastSuccess.set(now() / 1000);
    },
    recordSyncFailure(kind, durationMs) {
      syncDuration.observe({ outcome: 'failure' }, durationMs / 1000);
      syncErrors.inc({ kind });
    },
    recordEnqueueRun({ enqueued, failed }) {
      eventsEnqueued.inc(enqueued);
      enqueueFailed.inc(failed);
      lastRunEvents.set(enqueued);
      lastRunTime.set(now() / 1000);
    },
    recordSyncTrigger: (trigger, outcome) => syncsByTrigger.inc({ trigger, outcome }),
    recordSyncRefusal: (reason) => syncRefusals.inc({ reason }),
    webhookDelivery: (outcome) => webhookDeliveries.inc({ outcome }),
    recordTierTick(report) {
      for (const [tier, n] of Object.entries(report.enqueuedByTier)) tierEnqueued.inc({ tier }, n);
      for (const [tier, seconds] of Object.entries(report.oldestDueSeconds)) tierOldestDue.set({ tier }, seconds);
      tierDeferred.inc(report.deferred);
    },
    enqueueRunSkipped: () => runsSkipped.inc(),
    enqueueSlotMissed: () => slotsMissed.inc(),
    heartbeatFailure: (reason) => heartbeatFailures.inc({ reason }),
    staleGuard: (reason) => staleGuardTripped.inc({ reason }),
    rateLimited: () => lumaRateLimited.inc(),
    lumaRequest: () => lumaRequests.inc(),
    setRateBudget: (requestsPerMinute) => rateBudget.set(requestsPerMinute),
    setDeadLetterDepth: (messages) => deadLetterDepth.set(messages),
    lumaRetry: (kind) => lumaRetries.inc({ kind }),
    historyAttemptsLost: (reason, count) => historyLost.inc({ reason }, count),
    setHistoryBacklog: (size) => historyBacklog.set(size),
    setQueueDepth(visible, inFlight) {
      queueDepth.set({ state: 'visible' }, visible);
      queueDepth.set({ state: 'in_flight' }, inFlight);
    },
  };
}
