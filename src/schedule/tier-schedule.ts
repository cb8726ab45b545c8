import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config.ts';
import type { Sql } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { createScheduler, type Scheduler } from './scheduler.ts';
import { runTierTick, type TierTickReport } from './tier-tick.ts';
import { parseTiers, tickBudget } from './tiers.ts';

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
  const tiers = parseTiers(config.tiers.schedule);
  const tickMs = config.tiers.tickMinutes * 60_000;
  const budget = tickBudget({
    share: config.tiers.budgetShare,
    perWindow: config.luma.rateLimitPerMinute,
    windowMs: config.luma.rateLimitWindowMs,
    tickMs,
  });
  const log = deps.log.child({ schedule: 'tiers' });
  return createScheduler({
    cron: `*/${config.tiers.tickMinutes} * * * *`,
    log,
    enqueueOnce: async (slot, signal) => {
      const report = await runTierTick({ ...deps, log }, slot, { tiers, tickMs, budget, signal });
      deps.onTick?.(report);
    },
  });
}
