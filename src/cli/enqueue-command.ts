import type { Config } from '../config/config.ts';
import { resolveQueueUrl } from '../consume/queue-url.ts';
import { createDatabase } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { runEnqueue, slotOf } from '../schedule/scheduler.ts';
import { tierPlanOptions } from '../schedule/tier-schedule.ts';
import { runTierTick } from '../schedule/tier-tick.ts';
import { createSqsClient } from '../wiring.ts';

/** `enqueue [--dry-run]`: the daily pass's discovery and enqueue, once; the report as JSON on stdout. */
export async function runEnqueueCommand(config: Readonly<Config>, log: Logger, dryRun: boolean) {
  const database = createDatabase({
    url: config.database.url,
    poolMax: config.database.poolMax,
    pooler: config.database.pooler,
  });
  const sqs = createSqsClient(config);
  try {
    const queueUrl = dryRun ? '' : await resolveQueueUrl(sqs, config.queue);
    const deps = { db: database.db, sqs, queueUrl, log, concurrency: config.enqueueConcurrency };
    const report = await runEnqueue(deps, slotOf(new Date()), { dryRun });
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return report.failed > 0 ? 1 : 0;
  } finally {
    sqs.destroy();
    await database.close();
  }
}

/** One tick of the freshness schedule now (`enqueue --tiers`), whether or not the tiers are enabled. */
export async function runTierTickCommand(config: Readonly<Config>, log: Logger, dryRun: boolean) {
  const database = createDatabase({
    url: config.database.url,
    poolMax: config.database.poolMax,
    pooler: config.database.pooler,
  });
  const sqs = createSqsClient(config);
  try {
    const queueUrl = dryRun ? '' : await resolveQueueUrl(sqs, config.queue);
    const report = await runTierTick({ sql: database.sql, sqs, queueUrl, log }, slotOf(new Date()), {
      ...tierPlanOptions(config),
      dryRun,
    });
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return report.failed > 0 ? 1 : 0;
  } finally {
    sqs.destroy();
    await database.close();
  }
}
