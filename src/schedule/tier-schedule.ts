import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config/config.ts';
import type { Sql } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { createScheduler, type Scheduler } from './scheduler.ts';
import { runTierTick, type TierTickReport } from './tier-tick.ts';
import { parseTiers, type Tier, tickBudget } from './tiers.ts';

/**
 * What every tick plans with, from the configuration: the tiers, the tick's length and
 * its request budget (the share of the key's budget over one tick). One derivation for
 * the daemon's ticks, `enqueue --tiers` and `status`'s next-due times.
 */
export function tierPlanOptions(config: Readonly<Config>): {
  tiers: Tier[];
  tickMs: number;
  budget: number;
  pageSize: number;
} {
  const tickMs = config.tiers.tickMinutes * 60_000;
  const budget = tickBudget({
    share: config.tiers.budgetShare,
    perWindow: config.luma.rateLimitPerMinute,
    windowMs: config.luma.rateLimitWindowMs,
    tickMs,
  });
  return { tiers: parseTiers(config.tiers.schedule), tickMs, budget, pageSize: config.luma.pageSize };
}

/**
 * The freshness schedule's own cron, every PL_EVENT_GUEST_SYNC_TIER_TICK_MINUTES. It is a
 * scheduler of its own, beside the daily pass's, so a slow tick can never hold back the
 * daily pass (each skips only its own overlapping firings).
 */
export function createTierScheduler(deps: {
  config: Readonly<Config>;
  sql: Sql;
  sqs: SQSClient;
  queueUrl: string;
  log: Logger;
  onTick?: (report: TierTickReport) => void;
}): Scheduler {
  const { config } = deps;
  const plan = tierPlanOptions(config);
  const log = deps.log.child({ schedule: 'tiers' });
  return createScheduler({
    cron: `*/${config.tiers.tickMinutes} * * * *`,
    log,
    enqueueOnce: async (slot, signal) => {
      const report = await runTierTick({ ...deps, log }, slot, { ...plan, signal });
      deps.onTick?.(report);
    },
  });
}
