import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Database } from '../../src/db/client.ts';
import { silentLogger } from '../../src/log.ts';
import { DEFAULT_ENQUEUE_CONCURRENCY } from '../../src/schedule/enqueue.ts';
import { runEnqueue } from '../../src/schedule/scheduler.ts';
import { type Figure, figure, median, time } from './harness.ts';
import { startRemoteSqs } from './latency-proxy.ts';
import { createBenchDatabase } from './sync-env.ts';

/** Round trip the proxy adds in front of the SQS server by default: a real SQS endpoint is 10–30 ms away. */
export const DEFAULT_SQS_RTT_MS = 20;

/**
 * Scenario 7: the scheduler enqueues 10,000 eligible events on a real SQS server in a
 * process of its own, reached through a proxy that adds `sqsRttMs` per round trip (the
 * bench's loopback server alone has none, which hid that 1,000 calls one after another
 * cost 1,000 round trips). The bench's shared SQS server is not used.
 */
export async function scheduler(options: {
  adminUrl: string;
  sqsRttMs?: number;
  runs: number;
  quick: boolean;
}): Promise<Figure[]> {
  const events = options.quick ? 2_000 : 10_000;
  // A database of its own: the other scenarios' events are syncable too.
  const db = await createBenchDatabase(options.adminUrl);
  const rttMs = options.sqsRttMs ?? DEFAULT_SQS_RTT_MS;
  // The same server set-up without the delay, measured alongside: what the machine, the
  // server and the SDK cost here and now, whatever else the machine is doing.
  const remote = await startRemoteSqs(rttMs);
  const local = await startRemoteSqs(0);
  try {
    await seedEvents(db, events);
    const runs = Math.min(options.runs, 3);
    const far = await enqueueRuns(db, events, { server: remote, runs });
    const near = await enqueueRuns(db, events, { server: local, runs });
    const name = `7. scheduler, ${events / 1000}k events, ${rttMs} ms SQS round trip`;
    const limit = 2 * (events / 10_000);
    return [
      figure(name, 'discover + enqueue', 's', far.seconds, { text: `<= ${limit}`, ok: (m) => m <= limit }),
      // 1 when every call waits its own round trip (one after another); 1/concurrency at best.
      figure(name, 'time the round trips add / (calls x round trip)', 'share', roundTripShare(far, near), {
        text: '<= 0.1',
        ok: (m) => m <= 0.1,
      }),
      figure(name, 'discover + enqueue at 0 ms round trip (context)', 's', near.seconds, {
        text: 'reported',
        ok: () => true,
      }),
      figure(name, 'SendMessageBatch calls', 'calls', far.calls, {
        text: `${events / 10}`,
        ok: (m) => m === events / 10,
      }),
      figure(name, 'SendMessageBatch calls in flight at once (most)', 'calls', far.mostAtOnce, {
        text: `${DEFAULT_ENQUEUE_CONCURRENCY}`,
        ok: (m) => m === DEFAULT_ENQUEUE_CONCURRENCY,
      }),
      figure(name, "the scheduler's own CPU time (context)", 's', far.cpuSeconds, { text: 'reported', ok: () => true }),
      figure(name, "the SQS server's CPU time, proxy included (context)", 's', far.serverCpuSeconds, {
        text: 'reported',
        ok: () => true,
      }),
      figure(name, 'one call through the proxy (measured)', 'ms', far.rtt, {
        text: `>= ${rttMs}`,
        ok: (m) => m >= rttMs,
      }),
    ];
  } finally {
    await Promise.all([remote.stop(), local.stop()]);
    await db.drop();
  }
}

/**
 * How much of the round trips' total shows in the wall time, run by run: (time with the
 * delay - the same without) / (calls x the round trip measured in that run). Runs taken
 * close in time share the machine's state, so a busy machine inflates both times alike.
 */
function roundTripShare(
  far: { seconds: number[]; calls: number[]; rtt: number[] },
  near: { seconds: number[] },
): number[] {
  return far.seconds.map((s, i) => (s - near.seconds[i]!) / ((far.calls[i]! * far.rtt[i]!) / 1000));
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

async function enqueueRuns(
  db: Database,
  events: number,
  options: { server: { endpoint: string; cpuSeconds(): number }; runs: number },
) {
  const sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: options.server.endpoint,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const inFlight = trackSendMessageBatch(sqs);
  const result = { seconds: [] as number[], calls: [] as number[], mostAtOnce: [] as number[] };
  const more = { rtt: [] as number[], cpuSeconds: [] as number[], serverCpuSeconds: [] as number[] };
  try {
    for (let i = 0; i < options.runs; i++) {
      const created = await sqs.send(
        new CreateQueueCommand({ QueueName: `bench-sched-${Date.now()}-${i}.fifo`, Attributes: { FifoQueue: 'true' } }),
      );
      more.rtt.push(await measuredRoundTrip(sqs, created.QueueUrl!));
      inFlight.most = 0;
      const cpuBefore = process.cpuUsage();
      const serverCpuBefore = options.server.cpuSeconds();
      const { ms, value } = await time(() =>
        runEnqueue({ db: db.db, sqs, queueUrl: created.QueueUrl!, log: silentLogger }, new Date()),
      );
      const cpu = process.cpuUsage(cpuBefore);
      if (value.enqueued !== events) throw new Error(`${value.enqueued} of ${events} events enqueued`);
      result.seconds.push(ms / 1000);
      result.calls.push(value.calls);
      result.mostAtOnce.push(inFlight.most);
      more.cpuSeconds.push((cpu.user + cpu.system) / 1e6);
      more.serverCpuSeconds.push(options.server.cpuSeconds() - serverCpuBefore);
    }
  } finally {
    sqs.destroy();
  }
  return { ...result, ...more };
}

/** Counts SendMessageBatch calls in flight, keeping the most seen at once. */
function trackSendMessageBatch(sqs: SQSClient): { most: number } {
  const state = { now: 0, most: 0 };
  sqs.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'SendMessageBatchCommand') return next(args);
      state.most = Math.max(state.most, ++state.now);
      try {
        return await next(args);
      } finally {
        state.now--;
      }
    },
    { step: 'initialize', name: 'bench-in-flight' },
  );
  return state;
}

/** Median time of one small call through the proxy, on a warm connection: proof the delay is there. */
async function measuredRoundTrip(sqs: SQSClient, queueUrl: string): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 10; i++) {
    const { ms } = await time(() =>
      sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] })),
    );
    samples.push(ms);
  }
  return median(samples);
}
