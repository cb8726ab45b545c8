import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Database } from '../../src/db/client.ts';
import { silentLogger } from '../../src/log.ts';
import { runEnqueue } from '../../src/schedule/scheduler.ts';
import { type Figure, figure, time } from './harness.ts';
import { createBenchDatabase } from './sync-env.ts';

/** Scenario 7: the scheduler enqueues 10,000 eligible events on a real SQS server. */
export async function scheduler(options: {
  adminUrl: string;
  sqsEndpoint: string;
  runs: number;
  quick: boolean;
}): Promise<Figure[]> {
  const events = options.quick ? 2_000 : 10_000;
  // A database of its own: the other scenarios' events are syncable too.
  const db = await createBenchDatabase(options.adminUrl);
  try {
    await seedEvents(db, events);
    return await enqueueRuns(db, events, options);
  } finally {
    await db.drop();
  }
}

async function seedEvents(db: Database, events: number): Promise<void> {
  await db.sql`INSERT INTO "PLEventLocation" (uid, location, "updatedAt") VALUES ('bench-sched-loc', 'Sched', now())`;
  await db.sql`
    INSERT INTO "PLEvent" (uid, name, "slugURL", "startDate", "endDate", "locationUid", "externalEventProvider",
                           "externalEventId", "updatedAt")
    SELECT 'sched-' || i, 'Event ' || i, 'sched-' || i, now() + interval '1 day', now() + interval '2 days',
           'bench-sched-loc', 'LUMA', 'evt-sched-' || i, now()
    FROM generate_series(1, ${events}) AS i`;
}

async function enqueueRuns(db: Database, events: number, options: { sqsEndpoint: string; runs: number }) {
  const sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: options.sqsEndpoint,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const seconds: number[] = [];
  const calls: number[] = [];
  try {
    for (let i = 0; i < Math.min(options.runs, 3); i++) {
      const created = await sqs.send(
        new CreateQueueCommand({ QueueName: `bench-sched-${Date.now()}-${i}.fifo`, Attributes: { FifoQueue: 'true' } }),
      );
      const { ms, value } = await time(() =>
        runEnqueue({ db: db.db, sqs, queueUrl: created.QueueUrl!, log: silentLogger }, new Date()),
      );
      if (value.enqueued !== events) throw new Error(`${value.enqueued} of ${events} events enqueued`);
      seconds.push(ms / 1000);
      calls.push(value.calls);
    }
  } finally {
    sqs.destroy();
  }
  const name = `7. scheduler, ${events / 1000}k events`;
  return [
    figure(name, 'discover + enqueue', 's', seconds, { text: '<= 5', ok: (m) => m <= 5 }),
    figure(name, 'SendMessageBatch calls', 'calls', calls, { text: `${events / 10}`, ok: (m) => m === events / 10 }),
  ];
}
