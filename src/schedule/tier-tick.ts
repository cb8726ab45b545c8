import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Sql } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { toSyncMessage } from './enqueue.ts';
import { keyedDeduplicationId, sendSyncMessages } from './send-messages.ts';
import { findTierCandidates, recordTierEnqueued } from './tier-due.ts';
import { planTick, type Tier } from './tiers.ts';

export interface TierTickDeps {
  sql: Sql;
  sqs: SQSClient;
  queueUrl: string;
  log: Logger;
}

export interface TierTickOptions {
  tiers: readonly Tier[];
  /** The tick's period: the time its budget covers. */
  tickMs: number;
  /** Requests the tick may plan (tickBudget of tiers.ts). */
  budget: number;
  /** Guests per Luma page (LUMA_PAGE_SIZE): turns an event's guests into requests. */
  pageSize: number;
  dryRun?: boolean;
  signal?: AbortSignal;
}

export interface TierTickReport {
  slot: string;
  /** Events starting within the widest horizon. */
  candidates: number;
  enqueued: number;
  /** Due events the budget could not afford this tick. */
  deferred: number;
  failed: number;
  /** Estimated Luma requests of the enqueued events. */
  plannedRequests: number;
  budget: number;
  /** Per tier: seconds its longest-waiting due event had been due. */
  oldestDueSeconds: Record<string, number>;
  /** Per tier: events enqueued. */
  enqueuedByTier: Record<string, number>;
  dryRun: boolean;
}

/**
 * One tick of the freshness schedule at `slot`: finds the events due by tier, keeps
 * those the budget affords (soonest first), enqueues them with a slot-keyed
 * deduplication id and trigger "tier", and remembers their slot so the next tick does
 * not send them again while they wait in the queue. Replicas ticking the same slot send
 * the same ids, and SQS keeps one of each.
 */
export async function runTierTick(deps: TierTickDeps, slot: Date, options: TierTickOptions): Promise<TierTickReport> {
  const widest = Math.max(...options.tiers.map((t) => t.horizonMs));
  const candidates = await findTierCandidates(deps.sql, slot, widest);
  const plan = planTick(candidates, {
    tiers: options.tiers,
    slot,
    tickMs: options.tickMs,
    budget: options.budget,
    pageSize: options.pageSize,
  });
  const enqueuedByTier: Record<string, number> = Object.fromEntries(options.tiers.map((t) => [t.name, 0]));
  let sent: string[] = [];
  let failed = 0;
  if (!options.dryRun && plan.selected.length > 0) {
    const outgoing = plan.selected.map(({ candidate }) => ({
      message: { ...toSyncMessage(candidate.event, slot), trigger: 'tier' as const },
      deduplicationId: keyedDeduplicationId(candidate.eventUid, 'tier', slot.toISOString()),
    }));
    ({ sent, failed } = await sendSyncMessages(deps, outgoing, { signal: options.signal }));
    if (sent.length > 0) await recordTierEnqueued(deps.sql, sent, slot);
    const sentSet = new Set(sent);
    for (const { candidate, tier } of plan.selected) {
      if (sentSet.has(candidate.eventUid)) enqueuedByTier[tier.name] = (enqueuedByTier[tier.name] ?? 0) + 1;
    }
  }
  const report: TierTickReport = {
    slot: slot.toISOString(),
    candidates: candidates.length,
    enqueued: options.dryRun ? plan.selected.length : sent.length,
    deferred: plan.deferred,
    failed,
    plannedRequests: plan.cost,
    budget: options.budget,
    oldestDueSeconds: Object.fromEntries([...plan.oldestDueMs].map(([name, ms]) => [name, Math.round(ms / 1000)])),
    enqueuedByTier,
    dryRun: options.dryRun ?? false,
  };
  deps.log[failed > 0 || plan.deferred > 0 ? 'warn' : 'info'](report, 'tier tick complete');
  return report;
}
