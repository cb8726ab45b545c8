import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { SyncConsumer } from '../../src/consume/consumer.ts';
import { holdMessage } from '../../src/consume/heartbeat.ts';
import type { SyncMessage, SyncResult } from '../../src/sync/types.ts';
import { testEnv } from '../support/env.ts';
import { startCuttableLink } from '../support/faults.ts';
import { captureLogger, createFifoQueue, createTestSqs, queueDepth, waitFor } from '../support/sqs-queue.ts';

const sqs = createTestSqs();

function resultOf(message: SyncMessage): SyncResult {
  const counts = { pages: 1, fetched: 0, matched: 0, created: 0, skipped: 0, removed: 0 };
  return { eventUid: message.eventUid, providerType: message.providerType, ...counts, dryRun: false, durationMs: 1 };
}

describe('the visibility heartbeat through a real SQS server', () => {
  it('warns with the reason, counts each failed extension, and aborts the sync once its message can no longer be held', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'heartbeat' });
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: JSON.stringify({
          eventUid: 'e1',
          externalEventId: 'evt-e1',
          locationUid: 'l',
          providerType: 'LUMA',
        }),
        MessageGroupId: 'e1',
        MessageDeduplicationId: randomUUID(),
      }),
    );
    // The consumer reaches SQS through a relay the test cuts: an SQS outage for this worker only.
    const target = new URL(testEnv('sqsEndpoint'));
    const link = await startCuttableLink({ host: '127.0.0.1', port: Number(target.port) });
    const linked = new SQSClient({
      region: 'us-east-1',
      endpoint: link.url,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    t.after(() => linked.destroy());

    const { log, lines } = captureLogger();
    const failures: string[] = [];
    const started = Promise.withResolvers<void>();
    const aborted = Promise.withResolvers<unknown>();
    const results: SyncResult[] = [];
    let attempts = 0;
    const consumer = new SyncConsumer(
      {
        sqs: linked,
        queueUrl: queue.url,
        log,
        sync: async (message, signal) => {
          attempts++;
          if (attempts > 1) return resultOf(message);
          started.resolve();
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          aborted.resolve(signal.reason);
          throw signal.reason;
        },
      },
      {
        concurrency: 1,
        visibilityTimeoutSeconds: 3,
        heartbeatIntervalSeconds: 1,
        waitTimeSeconds: 1,
        onResult: (r) => results.push(r),
        onHeartbeatFailure: (reason) => failures.push(reason),
      },
    );
    consumer.start();
    t.after(() => consumer.stop({ graceMs: 0 }));

    await started.promise;
    await link.cut();
    const cutAt = performance.now();
    const timeout = setTimeout(() => aborted.reject(new Error('the sync was never aborted')), 15_000);
    const reason = await aborted.promise.finally(() => clearTimeout(timeout));
    t.diagnostic(
      `sync aborted ${Math.round(performance.now() - cutAt)} ms after the cut, ${failures.length} failed extension(s)`,
    );

    assert.match(String((reason as Error).message), /can no longer be held/);
    assert.ok(failures.length >= 1, 'each failed extension is counted');
    assert.deepEqual(new Set(failures), new Set(['unreachable']));
    const warnings = lines.filter((l) => l.msg === 'visibility extension failed');
    assert.equal(warnings.length, failures.length);
    for (const w of warnings) {
      assert.equal(w.level, 40);
      assert.equal(w.reason, 'unreachable');
      assert.ok(w.err, 'the error is logged');
    }
    assert.ok(!lines.some((l) => /lost a race/.test(l.msg)), 'a real failure is not called a race');
    assert.ok(lines.some((l) => l.msg === 'sync aborted: its message can no longer be held'));

    // SQS is back: the message comes back (the sync is idempotent) and the next attempt completes.
    await link.restore();
    await waitFor(() => results.length === 1, 20_000, 'the redelivered message to be synced');
    assert.equal(attempts, 2);
    await waitFor(
      async () => {
        const depth = await queueDepth(sqs, queue.url);
        return depth.visible === 0 && depth.inFlight === 0;
      },
      10_000,
      'the message to be deleted',
    );
  });
});

describe('holdMessage', () => {
  const message = { MessageId: 'm1', ReceiptHandle: 'rh-1' };

  it('keeps a failure that arrives after the sync ended (the race with its delete) at debug, uncounted', async () => {
    const { log, lines } = captureLogger();
    const sent = Promise.withResolvers<void>();
    const answer = Promise.withResolvers<never>();
    const failures: string[] = [];
    let lost = false;
    const hold = holdMessage({
      sqs: {
        send: async () => {
          sent.resolve();
          return answer.promise;
        },
      },
      queueUrl: 'q',
      message,
      visibilityTimeoutSeconds: 30,
      intervalSeconds: 0.01,
      log,
      onFailure: (reason) => failures.push(reason),
      onLost: () => {
        lost = true;
      },
    });
    await sent.promise;
    hold.stop(); // the sync ended while the extension was on its way
    answer.reject(
      Object.assign(new Error('Message does not exist or is not available'), { name: 'ReceiptHandleIsInvalid' }),
    );
    await waitFor(() => lines.some((l) => l.msg === 'heartbeat lost a race with the end of a sync'), 2_000, 'the race');
    assert.equal(lines.find((l) => l.msg === 'heartbeat lost a race with the end of a sync')?.level, 20);
    assert.deepEqual(failures, []);
    assert.equal(lost, false);
  });

  it('gives the message up at once when SQS says its receipt handle is no longer valid', async () => {
    const { log, lines } = captureLogger();
    const failures: string[] = [];
    const lost = Promise.withResolvers<Error>();
    const hold = holdMessage({
      sqs: {
        send: async () => {
          throw Object.assign(new Error('The receipt handle has expired.'), { name: 'InvalidParameterValue' });
        },
      },
      queueUrl: 'q',
      message,
      visibilityTimeoutSeconds: 3_600,
      intervalSeconds: 0.01,
      log,
      onFailure: (reason) => failures.push(reason),
      onLost: (err) => lost.resolve(err),
    });
    const err = await lost.promise;
    hold.stop();
    assert.match(err.message, /can no longer be held/);
    assert.deepEqual(failures, ['receipt_invalid']);
    const warning = lines.find((l) => l.msg === 'visibility extension failed');
    assert.equal(warning?.level, 40);
    assert.equal(warning?.reason, 'receipt_invalid');
  });
});
