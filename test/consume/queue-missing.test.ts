import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CreateQueueCommand, DeleteQueueCommand } from '@aws-sdk/client-sqs';
import { SyncConsumer } from '../../src/consume/consumer.ts';
import { captureLogger, createFifoQueue, createTestSqs, waitFor } from '../support/sqs-queue.ts';
import { startStack } from '../support/stack.ts';
import { startWorkerProcess } from '../support/worker-process.ts';

const stack = await startStack({ label: 'queue_missing' });
const sqs = createTestSqs();

interface Readyz {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

async function readyz(url: string): Promise<{ status: number; body: Readyz }> {
  const response = await fetch(`${url}/readyz`);
  return { status: response.status, body: (await response.json()) as Readyz };
}

/** A FIFO queue URL on the test server that no longer names a queue. */
async function deletedQueueUrl(label: string): Promise<{ url: string; name: string }> {
  const queue = await createFifoQueue(sqs, { label });
  await sqs.send(new DeleteQueueCommand({ QueueUrl: queue.url }));
  return queue;
}

describe('a queue that does not exist', () => {
  it('keeps the daemon unready, and its log and /readyz say the same thing: what is missing and what to do', async () => {
    const { url } = await deletedQueueUrl('missing-url');
    const worker = await startWorkerProcess({ ...stack.env, PL_EVENT_GUEST_SYNC_QUEUE_URL: url });
    const waiting = (l: Record<string, unknown>) => l.msg === 'waiting for a dependency' && l.what === 'queue';
    const first = await worker.waitForLog(waiting);

    const { status, body } = await readyz(worker.url);
    assert.equal(status, 503);
    assert.equal(body.checks.database?.ok, true);
    assert.equal(body.checks.queue?.ok, false);
    assert.match(
      String(first.reason),
      /does not exist: create it as a FIFO queue, or correct PL_EVENT_GUEST_SYNC_QUEUE_URL/,
    );
    assert.equal(body.checks.queue?.detail, first.reason, '/readyz gives the reason the log gives');
    assert.ok(!worker.lines.some((l) => l.msg === 'luma-guest-sync ready'), 'never claims to be ready');
    assert.ok(!worker.lines.some((l) => l.msg === 'SQS receive failed'), 'no consumer polls a queue that is not there');
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
  });

  it('by name: after a failed lookup /readyz gives the lookup failure, not "not looked up yet"', async () => {
    const { name } = await deletedQueueUrl('missing-name');
    const env = { ...stack.env, PL_EVENT_GUEST_SYNC_QUEUE_URL: '', PL_EVENT_GUEST_SYNC_QUEUE_NAME: name };
    const worker = await startWorkerProcess(env);
    const first = await worker.waitForLog((l) => l.msg === 'waiting for a dependency' && l.what === 'queue');

    const { body } = await readyz(worker.url);
    assert.match(String(first.reason), new RegExp(`SQS queue "${name}" does not exist: create it as a FIFO queue`));
    assert.equal(body.checks.queue?.detail, first.reason);
    assert.doesNotMatch(body.checks.queue?.detail ?? '', /not looked up yet/);
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
  });

  it('deleted under a ready daemon: /readyz turns 503 with the reason the consumer logs', async () => {
    const queue = await createFifoQueue(sqs, { label: 'deleted-under-daemon' });
    const worker = await startWorkerProcess({ ...stack.env, PL_EVENT_GUEST_SYNC_QUEUE_URL: queue.url });
    await worker.waitUntilReady();

    await sqs.send(new DeleteQueueCommand({ QueueUrl: queue.url }));
    const failed = await worker.waitForLog((l) => l.msg === 'SQS receive failed');
    const { status, body } = await readyz(worker.url);
    assert.equal(status, 503);
    assert.match(String(failed.reason), /does not exist: create it as a FIFO queue/);
    assert.equal(body.checks.queue?.detail, failed.reason);
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
  });

  it('deleted while the consumer polls: one short error for the whole outage, then one line when it is back', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'deleted-later' });
    const client = createTestSqs();
    const { log, lines } = captureLogger();
    const consumer = new SyncConsumer(
      { sqs: client, queueUrl: queue.url, log, sync: async () => assert.fail('no message expected') },
      { concurrency: 2, visibilityTimeoutSeconds: 2, waitTimeSeconds: 1 },
    );
    consumer.start();
    t.after(() => consumer.stop({ graceMs: 0 }));
    await waitFor(() => consumer.health.lastPollAt !== undefined, 10_000, 'a first poll');

    await sqs.send(new DeleteQueueCommand({ QueueUrl: queue.url }));
    // Counted as they fail, not as they are sent: sqs-consumer pauses each poller 10 s after
    // a missing-queue error (its authenticationErrorTimeout), so six sends took 20-30 s and a
    // loaded machine ran past the wait. Four failures are two per poller, about 11 s.
    const failedReceives = () =>
      lines.filter((l) => l.msg === 'SQS receive failed' || l.msg === 'SQS receive failed again').length;
    await waitFor(() => failedReceives() >= 4, 60_000, 'four failed receives after the delete');

    const failures = lines.filter((l) => l.msg === 'SQS receive failed');
    assert.equal(failures.length, 1, `one error line for four failed receives, not ${failures.length}`);
    const [failure] = failures;
    assert.equal(failure?.level, 50);
    assert.match(String(failure?.reason), /does not exist/);
    assert.match(String(failure?.reason), /PL_EVENT_GUEST_SYNC_QUEUE_URL/, 'says what to do');
    assert.ok(JSON.stringify(failure).length < 700, `a short line, not ${JSON.stringify(failure).length} bytes`);
    const sentences = String(failure?.reason).split(/[.:] /);
    assert.equal(new Set(sentences).size, sentences.length, `no sentence repeated in: ${failure?.reason}`);

    await sqs.send(new CreateQueueCommand({ QueueName: queue.name, Attributes: { FifoQueue: 'true' } }));
    await waitFor(() => lines.some((l) => l.msg === 'SQS receive recovered'), 30_000, 'the recovery line');
    const recovered = lines.find((l) => l.msg === 'SQS receive recovered');
    assert.ok(Number(recovered?.failures) >= 4, `counts the failures it did not log: ${recovered?.failures}`);
  });
});
