import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type {
  SendMessageBatchCommandInput,
  SendMessageBatchCommandOutput,
  SendMessageBatchRequestEntry,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SyncableEvent } from '../../src/schedule/discover.ts';
import { deduplicationId, enqueueEvents } from '../../src/schedule/enqueue.ts';
import { countCommands, createFifoQueue, createTestSqs, queueDepth, receiveAll } from '../support/sqs-queue.ts';

const sqs = createTestSqs();
const SLOT = new Date('2031-06-01T03:00:00.000Z');
const fast = { attempts: 3, baseDelayMs: 1 };

function events(n: number, prefix = 'evt'): SyncableEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    eventUid: `${prefix}${i}-${Math.random().toString(36).slice(2, 8)}`,
    externalEventId: `evt-luma-${i}`,
    locationUid: `loc-${i}`,
    providerType: 'LUMA' as const,
  }));
}

/**
 * Makes SQS report some entries of SendMessageBatch as failed: `plan` names the entry ids
 * to fail on each call (1-based); those entries are not sent, the others are.
 */
function failEntries(
  client: SQSClient,
  plan: (call: number, entries: SendMessageBatchRequestEntry[]) => string[],
  senderFault = false,
) {
  let call = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'SendMessageBatchCommand') return next(args);
      const input = args.input as SendMessageBatchCommandInput;
      const entries = input.Entries ?? [];
      const failing = new Set(plan(++call, entries));
      const rest = entries.filter((e) => !failing.has(e.Id!));
      // SQS rejects an empty batch, so when every entry fails nothing is sent.
      const sent =
        rest.length > 0
          ? await next({ ...args, input: { ...input, Entries: rest } })
          : { output: { Successful: [], Failed: [], $metadata: {} }, response: {} };
      const output = sent.output as SendMessageBatchCommandOutput;
      output.Failed = [
        ...(output.Failed ?? []),
        ...[...failing].map((Id) => ({ Id, SenderFault: senderFault, Code: 'InternalError', Message: 'injected' })),
      ];
      return sent;
    },
    { step: 'initialize', name: 'failEntries' },
  );
}

function freshClient(): SQSClient {
  return createTestSqs();
}

describe('enqueueEvents', () => {
  it('sends 25 events in 3 SendMessageBatch calls, one message per event with its group and slot', async () => {
    const client = freshClient();
    const calls = countCommands(client);
    const queue = await createFifoQueue(client, { label: 'batching' });
    const batch = events(25);

    const report = await enqueueEvents({ sqs: client, queueUrl: queue.url }, batch, SLOT);

    assert.deepEqual(report, { enqueued: 25, failed: 0, calls: 3 });
    assert.equal(calls.get('SendMessageBatchCommand'), 3);
    const messages = await receiveAll(sqs, queue.url);
    assert.equal(messages.length, 25);
    const first = messages.find((m) => m.Attributes?.MessageGroupId === batch[0]!.eventUid)!;
    assert.deepEqual(JSON.parse(first.Body!), { ...batch[0], scheduledFor: '2031-06-01T03:00:00.000Z' });
    assert.equal(first.Attributes?.MessageDeduplicationId, deduplicationId(batch[0]!.eventUid, SLOT));
  });

  it('enqueues each event once when two schedulers fire for the same slot, and again for the next slot', async () => {
    const queue = await createFifoQueue(sqs, { label: 'dedup' });
    const batch = events(12);
    const replicaA = freshClient();
    const replicaB = freshClient();

    await Promise.all([
      enqueueEvents({ sqs: replicaA, queueUrl: queue.url }, batch, SLOT),
      enqueueEvents({ sqs: replicaB, queueUrl: queue.url }, batch, new Date(SLOT)),
    ]);
    assert.equal((await queueDepth(sqs, queue.url)).visible, 12, 'one message per event for the slot');

    const nextSlot = new Date(SLOT.getTime() + 86_400_000);
    await enqueueEvents({ sqs: replicaA, queueUrl: queue.url }, batch, nextSlot);
    assert.equal((await queueDepth(sqs, queue.url)).visible, 24, 'the next slot re-syncs every event');
  });

  it('derives a deduplication id SQS accepts from the event and the slot only', () => {
    const id = deduplicationId('cl-event/with spaces ☃', SLOT);
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(id, deduplicationId('cl-event/with spaces ☃', new Date(SLOT)));
    assert.notEqual(id, deduplicationId('cl-event/with spaces ☃', new Date(SLOT.getTime() + 60_000)));
  });

  it('retries the entries SQS reports as failed and counts none when the retry succeeds', async () => {
    const client = freshClient();
    const queue = await createFifoQueue(client, { label: 'partial' });
    failEntries(client, (call) => (call === 1 ? ['m1', 'm3', 'm7'] : []));

    const report = await enqueueEvents({ sqs: client, queueUrl: queue.url, retry: fast }, events(10), SLOT);

    assert.deepEqual(report, { enqueued: 10, failed: 0, calls: 2 });
    assert.equal((await queueDepth(sqs, queue.url)).visible, 10);
  });

  it('reports entries that still fail after every attempt, and sends the rest', async () => {
    const client = freshClient();
    const queue = await createFifoQueue(client, { label: 'stillfail' });
    const batch = events(15);
    const doomed = batch[2]!.eventUid;
    failEntries(client, (_call, entries) => entries.filter((e) => e.MessageGroupId === doomed).map((e) => e.Id!));

    const report = await enqueueEvents({ sqs: client, queueUrl: queue.url, retry: fast }, batch, SLOT);

    assert.deepEqual(report, { enqueued: 14, failed: 1, calls: 4 }, '3 attempts for the first batch, 1 for the second');
    assert.equal((await queueDepth(sqs, queue.url)).visible, 14);
  });

  it('does not retry entries rejected as the sender’s fault', async () => {
    const client = freshClient();
    const queue = await createFifoQueue(client, { label: 'senderfault' });
    failEntries(client, (call) => (call === 1 ? ['m0'] : []), true);

    const report = await enqueueEvents({ sqs: client, queueUrl: queue.url, retry: fast }, events(3), SLOT);

    assert.deepEqual(report, { enqueued: 2, failed: 1, calls: 1 });
  });

  it('throws when the SendMessageBatch call itself fails on every attempt', async () => {
    const client = freshClient();
    const queue = await createFifoQueue(client, { label: 'down' });
    let attempts = 0;
    client.middlewareStack.add(
      () => async () => {
        attempts++;
        throw Object.assign(new Error('connect ECONNREFUSED'), { $fault: 'server' });
      },
      { step: 'initialize', name: 'down' },
    );

    await assert.rejects(
      enqueueEvents({ sqs: client, queueUrl: queue.url, retry: fast }, events(3), SLOT),
      /SendMessageBatch failed after 3 attempt\(s\); 0 message\(s\) enqueued/,
    );
    assert.equal(attempts, 3);
  });

  it('keeps at most `concurrency` SendMessageBatch calls in flight, and uses them all', async () => {
    const client = freshClient();
    const queue = await createFifoQueue(client, { label: 'concurrent' });
    let inFlight = 0;
    let most = 0;
    const full = Promise.withResolvers<void>();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'SendMessageBatchCommand') return next(args);
        inFlight++;
        most = Math.max(most, inFlight);
        // The first calls wait until four are open at once: overlap forced, not left to timing.
        if (inFlight === 4) full.resolve();
        await full.promise;
        try {
          return await next(args);
        } finally {
          inFlight--;
        }
      },
      { step: 'initialize', name: 'overlap' },
    );
    const batch = events(100);

    const report = await enqueueEvents({ sqs: client, queueUrl: queue.url, concurrency: 4 }, batch, SLOT);

    assert.deepEqual(report, { enqueued: 100, failed: 0, calls: 10 });
    assert.equal(most, 4, 'four calls at once, never more');
    const messages = await receiveAll(sqs, queue.url);
    assert.deepEqual(
      messages.map((m) => m.Attributes?.MessageGroupId).sort(),
      batch.map((e) => e.eventUid).sort(),
      'every event exactly once',
    );
  });

  it('takes no new batch once a call failed for good, and throws after the calls in flight end', async () => {
    const client = freshClient();
    const queue = await createFifoQueue(client, { label: 'fail-fast' });
    let calls = 0;
    client.middlewareStack.add(
      () => async () => {
        calls++;
        throw Object.assign(new Error('access denied'), { $fault: 'client' });
      },
      { step: 'initialize', name: 'denied' },
    );
    await assert.rejects(
      enqueueEvents({ sqs: client, queueUrl: queue.url, retry: fast, concurrency: 3 }, events(100), SLOT),
      /SendMessageBatch failed after 1 attempt/,
    );
    assert.equal(calls, 3, 'the three calls already started, none after');
  });

  it('throws at once when the queue does not exist', async () => {
    const queue = await createFifoQueue(sqs, { label: 'gone' });
    await assert.rejects(
      enqueueEvents(
        { sqs, queueUrl: `${queue.url.replace(/\.fifo$/, '')}-missing.fifo`, retry: fast },
        events(3),
        SLOT,
      ),
      /SendMessageBatch failed after 1 attempt/,
    );
  });
});
