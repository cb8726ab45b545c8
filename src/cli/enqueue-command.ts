import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config/config.ts';
import { resolveQueueUrl } from '../consume/queue-url.ts';
import { createDatabase, type Database } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { runEnqueue, slotOf } from '../schedule/scheduler.ts';
import { tierPlanOptions } from '../schedule/tier-schedule.ts';
import { runTierTick } from '../schedule/tier-tick.ts';
import { createSqsClient } from '../wiring.ts';

/** `enqueue [--dry-run]`: the daily pass's discovery and enqueue, once; the report as JSON on stdout. */
export function runEnqueueCommand(config: Readonly<Config>, log: Logger, dryRun: boolean) {
  return withQueue(config, dryRun, async ({ database, sqs, queueUrl }) => {
    const deps = { db: database.db, sqs, queueUrl, log, concurrency: config.enqueueConcurrency };
    return runEnqueue(deps, slotOf(new Date()), { dryRun });
  });
}

/** One tick of the freshness schedule now (`enqueue --tiers`), whether or not the tiers are enabled. */
export function runTierTickCommand(config: Readonly<Config>, log: Logger, dryRun: boolean) {
  return withQueue(config, dryRun, ({ database, sqs, queueUrl }) =>
    runTierTick({ sql: database.sql, sqs, queueUrl, log }, slotOf(new Date()), { ...tierPlanOptions(config), dryRun }),
  );
}

/**
 * Runs one enqueue with the database, the SQS client and the queue's URL (none in a dry
 * run, which sends nothing), prints its report as JSON, and closes both clients after.
 * Exit code 1 when any message could not be sent.
 */
async function withQueue(
  config: Readonly<Config>,
  dryRun: boolean,
  run: (clients: { database: Database; sqs: SQSClient; queueUrl: string }) => Promise<{ failed: number }>,
): Promise<number> {
  const database = createDatabase({
    url: config.database.url,
    poolMax: config.database.poolMax,
    pooler: config.database.pooler,
  });
  const sqs = createSqsClient(config);
  try {
    const queueUrl = dryRun ? '' : await resolveQueueUrl(sqs, config.queue);
    const report = await run({ database, sqs, queueUrl });
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return report.failed > 0 ? 1 : 0;
  } finally {
    sqs.destroy();
    await database.close();
  }
}
