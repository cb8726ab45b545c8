import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { SyncConsumer, type SyncConsumerOptions } from '../../src/consume/consumer.ts';
import type { FailureInfo } from '../../src/consume/process-message.ts';
import { PermanentError } from '../../src/errors.ts';
import { EventSyncRunningError } from '../../src/sync/claim.ts';
import type { SyncMessage, SyncResult } from '../../src/sync/types.ts';
import {
  captureLogger,
  countCommands,
  createFifoQueue,
  createTestSqs,
  createWatchedSqs,
  queueDepth,
  receiveAll,
  waitFor,
} from '../support/sqs-queue.ts';

const sqs = createTestSqs();

function body(eventUid: string, extra: Partial<SyncMessage> = {}): string {
  return JSON.stringify({
    eventUid,
    externalEventId: `evt-${eventUid}`,
    locationUid: 'loc-1',
    providerType: 'LUMA',
    ...extra,
  });
}

async function send(queueUrl: string, messageBody: string, groupId: string = randomUUID()) {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: messageBody,
      MessageGroupId: groupId,
      MessageDeduplicationId: randomUUID(),
    }),
  );
}

function resultOf(message: SyncMessage): SyncResult {
  const counts = { pages: 1, fetched: 0, matched: 0, created: 0, skipped: 0, removed: 0 };
  return { eventUid: message.eventUid, providerType: message.providerType, ...counts, dryRun: false, durationMs: 1 };
}

type Sync = (message: SyncMessage, signal: AbortSignal) => Promise<SyncResult>;

/** A started consumer on `queueUrl` with the fake sync, stopped after the test. */
function startConsumer(
  t: TestContext,
  queueUrl: string,
  sync: Sync,
  options: Partial<SyncConsumerOptions> = {},
  client: SQSClient = sqs,
) {
  const { log, lines } = captureLogger();
  const results: SyncResult[] = [];
  const failures: Array<FailureInfo & { err: unknown }> = [];
  const consumer = new SyncConsumer(
    { sqs: client, queueUrl, log, sync },
    {
      concurrency: 2,
      visibilityTimeoutSeconds: 2,
      waitTimeSeconds: 1,
      onResult: (r) => results.push(r),
      onFailure: (err, info) => failures.push({ err, ...info }),
      ...options,
    },
  );
  consumer.start();
  t.after(() => consumer.stop({ graceMs: 0 }));
  return { consumer, lines, results, failures };
}

const empty = async (queueUrl: string) => {
  const depth = await queueDepth(sqs, queueUrl);
  return depth.visible === 0 && depth.inFlight === 0;
};

describe('SyncConsumer', { concurrency: true }, () => {
  it('syncs each message and deletes it on success', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'ack' });
    for (const uid of ['e1', 'e2', 'e3']) await send(queue.url, body(uid), uid);
    const seen: string[] = [];
    const { results } = startConsumer(t, queue.url, async (m) => {
      seen.push(m.eventUid);
      return resultOf(m);
    });

    await waitFor(() => results.length === 3, 10_000, 'three syncs');
    await waitFor(() => empty(queue.url), 5_000, 'an empty queue');
    assert.deepEqual(seen.sort(), ['e1', 'e2', 'e3']);
  });

  it('leaves a message whose sync fails for redelivery, which then succeeds', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'retry' });
    await send(queue.url, body('flaky'));
    let calls = 0;
    const { lines, results, failures } = startConsumer(
      t,
      queue.url,
      async (m) => {
        calls++;
        if (calls === 1) throw new Error('Luma answered HTTP 503');
        return resultOf(m);
      },
      { visibilityTimeoutSeconds: 1 },
    );

    await waitFor(() => results.length === 1, 10_000, 'the redelivered sync');
    assert.equal(calls, 2);
    assert.deepEqual(
      failures.map((f) => [f.permanent, f.acknowledged, f.kind]),
      [[false, false, 'unexpected']],
    );
    const failed = lines.find((l) => l.msg === 'sync failed: message left for redelivery');
    assert.equal(failed?.receiveCount, 1);
    const receives = lines.filter((l) => l.msg === 'sync message received').map((l) => l.receiveCount);
    assert.deepEqual(receives, [1, 2], 'redelivered with ApproximateReceiveCount 2');
    await waitFor(() => empty(queue.url), 5_000, 'an empty queue');
  });

  it('moves a message that keeps failing to the dead-letter queue after maxReceiveCount', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'dlq', maxReceiveCount: 2 });
    await send(queue.url, body('doomed'), 'doomed');
    let calls = 0;
    startConsumer(
      t,
      queue.url,
      async () => {
        calls++;
        throw new Error('still down');
      },
      { visibilityTimeoutSeconds: 1, concurrency: 1 },
    );

    let dead: Awaited<ReturnType<typeof receiveAll>> = [];
    await waitFor(
      async () => {
        dead = await receiveAll(sqs, queue.dlqUrl!);
        return dead.length > 0;
      },
      15_000,
      'the message in the DLQ',
    );
    assert.equal(calls, 2, 'handled maxReceiveCount times, then moved');
    assert.equal(JSON.parse(dead[0]!.Body!).eventUid, 'doomed');
    assert.deepEqual(await queueDepth(sqs, queue.url), { visible: 0, inFlight: 0 });
  });

  it('acknowledges and logs poison messages of every kind with their reason', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'poison' });
    await send(queue.url, 'this is not json {');
    await send(queue.url, JSON.stringify({ eventUid: 'no-other-fields' }));
    await send(queue.url, body('elsewhere', { providerType: 'EVENTBRITE' as never }));
    await send(queue.url, body('gone'));
    const synced: string[] = [];
    const { lines, failures } = startConsumer(t, queue.url, async (m) => {
      synced.push(m.eventUid);
      throw new PermanentError('event_not_found', `Event ${m.eventUid} does not exist in the directory`);
    });

    await waitFor(() => failures.length === 4, 10_000, 'four dropped messages');
    await waitFor(() => empty(queue.url), 5_000, 'an empty queue');
    assert.deepEqual(synced, ['gone'], 'only the well-formed message reaches the sync');
    assert.ok(failures.every((f) => f.permanent && f.acknowledged));
    const dropped = lines.filter((l) => l.msg === 'message can never succeed: dropped');
    assert.equal(dropped.length, 4);
    assert.ok(dropped.every((l) => l.level === 50 && typeof l.messageId === 'string'));
    const byKind = Object.fromEntries(dropped.map((l) => [String(l.reason).slice(0, 60), l.kind]));
    assert.deepEqual(Object.values(byKind).sort(), [
      'bad_message',
      'bad_message',
      'event_not_found',
      'unknown_provider',
    ]);
    const notJson = dropped.find((l) => String(l.reason).includes('not JSON'));
    assert.equal(notJson?.body, 'this is not json {');
    assert.ok(dropped.some((l) => /externalEventId is missing/.test(String(l.reason))));
  });

  it('copies a dropped message to the poison queue with its reason before deleting it', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'copy' });
    const poison = await createFifoQueue(sqs, { label: 'poison-copy' });
    await send(queue.url, '[1, 2, 3]', 'g-copy');
    const { failures } = startConsumer(t, queue.url, async (m) => resultOf(m), { poisonQueueUrl: poison.url });

    await waitFor(() => failures.length === 1, 10_000, 'the dropped message');
    const [copy] = await receiveAll(sqs, poison.url, { messageAttributes: true });
    assert.equal(copy?.Body, '[1, 2, 3]');
    assert.equal(copy?.MessageAttributes?.errorKind?.StringValue, 'bad_message');
    assert.match(String(copy?.MessageAttributes?.errorReason?.StringValue), /body is JSON an array/);
    assert.equal(copy?.Attributes?.MessageGroupId, 'g-copy');
    await waitFor(() => empty(queue.url), 5_000, 'an empty queue');
  });

  it('keeps a poison message when its copy to the poison queue fails', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'copy-fails' });
    await send(queue.url, 'not json');
    const missing = `${queue.url.replace(/\.fifo$/, '')}-no-poison-queue.fifo`;
    const { failures, lines } = startConsumer(t, queue.url, async (m) => resultOf(m), {
      poisonQueueUrl: missing,
      visibilityTimeoutSeconds: 30,
    });

    await waitFor(() => failures.length === 1, 10_000, 'the failed copy');
    assert.deepEqual(
      failures.map((f) => [f.kind, f.permanent, f.acknowledged]),
      [['bad_message', true, false]],
    );
    assert.ok(lines.some((l) => l.msg === 'could not copy a failed message to the poison queue: left for redelivery'));
    assert.equal((await queueDepth(sqs, queue.url)).inFlight, 1, 'not deleted');
  });

  it('leaves a message failing on the worker’s own credentials for redelivery', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'auth' });
    await send(queue.url, body('needs-key'));
    const { failures, consumer } = startConsumer(
      t,
      queue.url,
      async () => {
        throw new PermanentError('luma_auth', 'Luma rejected the API key (HTTP 401)');
      },
      { visibilityTimeoutSeconds: 1, concurrency: 1 },
    );

    await waitFor(() => failures.length === 2, 10_000, 'a redelivery');
    await consumer.stop({ graceMs: 0 });
    assert.deepEqual(
      failures.map((f) => [f.kind, f.permanent, f.acknowledged]),
      [
        ['luma_auth', true, false],
        ['luma_auth', true, false],
      ],
    );
  });

  it('keeps a slow sync’s message invisible past the visibility timeout with the heartbeat', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'heartbeat' });
    await send(queue.url, body('slow'));
    // A client of its own, so only this consumer's visibility extensions are counted.
    const client = createTestSqs();
    const commands = countCommands(client);
    const extensions = () =>
      [...commands].filter(([name]) => name.startsWith('ChangeMessageVisibility')).reduce((n, [, c]) => n + c, 0);
    let calls = 0;
    let startedAt: number | undefined;
    const finish = Promise.withResolvers<void>();
    const { results, lines } = startConsumer(
      t,
      queue.url,
      async (m) => {
        calls++;
        startedAt ??= Date.now();
        await finish.promise; // the sync runs until the test has seen what it needs
        return resultOf(m);
      },
      // 3 s of slack between beats, so a busy machine's late timer does not let it reappear.
      { visibilityTimeoutSeconds: 4, heartbeatIntervalSeconds: 1, concurrency: 1 },
      client,
    );

    await waitFor(() => startedAt !== undefined, 30_000, 'the sync to start');
    // The visibility timeout it was received with has passed (counted from the sync's start,
    // which is after the receive), and the heartbeat extended it meanwhile.
    await waitFor(
      () => Date.now() > startedAt! + 4_000 && extensions() >= 2,
      60_000,
      'the first visibility timeout to pass under heartbeats',
    );
    assert.deepEqual(await receiveAll(sqs, queue.url, { visibilityTimeout: 0 }), [], 'still hidden');
    finish.resolve();
    await waitFor(() => results.length === 1, 30_000, 'the slow sync');
    await waitFor(() => empty(queue.url), 30_000, 'an empty queue');
    assert.equal(calls, 1, 'never redelivered while running');
    assert.ok(!lines.some((l) => l.level >= 50), 'no error logged');
  });

  it('stop() lets an in-flight sync finish within the grace and acknowledges it', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'grace-long' });
    await send(queue.url, body('finishing'));
    let started = false;
    const finish = Promise.withResolvers<void>();
    const { consumer, results } = startConsumer(t, queue.url, async (m) => {
      started = true;
      await finish.promise;
      return resultOf(m);
    });

    await waitFor(() => started, 30_000, 'the sync to start');
    assert.equal(consumer.isRunning, true);
    const stopping = consumer.stop({ graceMs: 60_000 });
    // The sync ends only once stop() has begun waiting for it.
    finish.resolve();
    const report = await stopping;
    assert.deepEqual(report, { completed: 1, aborted: 0 });
    assert.equal(consumer.isRunning, false);
    assert.equal(results.length, 1);
    await waitFor(() => empty(queue.url), 5_000, 'an empty queue');
  });

  it('stop() aborts a sync that outlasts the grace and makes its message visible again at once', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'grace-short' });
    await send(queue.url, body('interrupted'));
    let started = false;
    let sawAbort = false;
    const { consumer, results, failures } = startConsumer(
      t,
      queue.url,
      (_m, signal) =>
        new Promise<SyncResult>((_resolve, reject) => {
          started = true;
          signal.addEventListener('abort', () => {
            sawAbort = true;
            reject(signal.reason);
          });
        }),
      // Far longer than the test: only the release can make it visible within it.
      { visibilityTimeoutSeconds: 600 },
    );

    await waitFor(() => started, 5_000, 'the sync to start');
    // A grace longer than the pollers' long poll (1 s): the server ends the polls stop()
    // abandoned before the message is released, as with the defaults (25 s grace, 20 s
    // polls); one still open would take the released message back in flight.
    const report = await consumer.stop({ graceMs: 1_500 });
    assert.deepEqual(report, { completed: 0, aborted: 1 });
    assert.equal(sawAbort, true);
    assert.equal(results.length, 0);
    assert.deepEqual(
      failures.map((f) => f.acknowledged),
      [false],
    );
    // The sync stopped after a page and kept its checkpoint: another worker continues now,
    // not after the visibility timeout.
    let again: Awaited<ReturnType<typeof receiveAll>>[number] | undefined;
    await waitFor(
      async () => {
        [again] = await receiveAll(sqs, queue.url);
        return again !== undefined;
      },
      10_000,
      'the message to be visible again',
    );
    assert.equal(JSON.parse(again!.Body!).eventUid, 'interrupted');
    assert.equal(again!.Attributes?.ApproximateReceiveCount, '2');
  });

  it('a message whose release at shutdown fails is not extended again and comes back after its visibility timeout', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'release-fails' });
    await send(queue.url, body('release-fails'));
    // This worker's client: every visibility change is recorded, and the release (to 0)
    // fails as it did in the soak (the SQS server answering an error).
    const client = createTestSqs();
    const changes: Array<{ at: number; seconds: number }> = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (String(context.commandName) === 'ChangeMessageVisibilityCommand') {
          const seconds = Number((args.input as { VisibilityTimeout?: number }).VisibilityTimeout);
          changes.push({ at: Date.now(), seconds });
          if (seconds === 0) throw Object.assign(new Error('injected: the release failed'), { name: 'InternalError' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'fail-release' },
    );
    let started = false;
    const first = startConsumer(
      t,
      queue.url,
      (_m, signal) =>
        new Promise<SyncResult>((_resolve, reject) => {
          started = true;
          signal.addEventListener('abort', () => reject(signal.reason));
        }),
      { visibilityTimeoutSeconds: 4, heartbeatIntervalSeconds: 1, concurrency: 1 },
      client,
    );
    await waitFor(() => started, 10_000, 'the sync to start');
    await waitFor(() => changes.some((c) => c.seconds > 0), 20_000, 'a heartbeat extension');
    const report = await first.consumer.stop({ graceMs: 1_500 });
    const stoppedAt = Date.now();
    assert.deepEqual(report, { completed: 0, aborted: 1 });
    assert.ok(
      first.lines.some((l) => l.msg === 'could not change the visibility of a message'),
      'the failed release is logged',
    );

    // Another worker receives it once its visibility timeout (from the last extension) has
    // passed, and syncs it: the message is not lost, nor held by a heartbeat.
    const second = startConsumer(t, queue.url, async (m) => resultOf(m), { concurrency: 1 });
    await waitFor(() => second.results.length === 1, 30_000, 'the redelivered message to be synced');
    assert.equal(second.results[0]!.eventUid, 'release-fails');
    await waitFor(() => empty(queue.url), 10_000, 'an empty queue');
    const extensionsAfterStop = changes.filter((c) => c.seconds > 0 && c.at >= stoppedAt);
    assert.deepEqual(extensionsAfterStop, [], 'no extension after the sync was aborted');
  });

  it("tries a refused message again once the holder's lease has run out, not after the visibility timeout", async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'refused' });
    await send(queue.url, body('held-elsewhere'));
    let attempts = 0;
    const { results, lines } = startConsumer(
      t,
      queue.url,
      async (m) => {
        attempts++;
        // The first attempt meets another holder's claim with 1 s left; the next is granted.
        if (attempts === 1) throw new EventSyncRunningError(m.eventUid, 'other-host:1', new Date(), 1_000);
        return resultOf(m);
      },
      // Far longer than the test: only the early give-back can bring it back within it.
      { visibilityTimeoutSeconds: 600, concurrency: 1 },
    );
    await waitFor(() => results.length === 1, 30_000, 'the refused message to be synced');
    assert.equal(attempts, 2);
    const refusal = lines.find((l) => l.msg === 'sync refused: the event is being synced elsewhere');
    assert.equal(refusal?.delaySeconds, 2);
    await waitFor(() => empty(queue.url), 10_000, 'an empty queue');
  });

  it('leaves, without syncing, a message a long poll still open at stop() returns', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'late-poll' });
    const watched = await createWatchedSqs();
    let calls = 0;
    const { consumer } = startConsumer(
      t,
      queue.url,
      async (m) => {
        calls++;
        return resultOf(m);
      },
      { waitTimeSeconds: 3, concurrency: 1, visibilityTimeoutSeconds: 2 },
      watched.sqs,
    );
    await waitFor(() => watched.receivesForwarded() >= 1, 30_000, 'the long poll to reach the server');
    await consumer.stop({ graceMs: 0 });
    await send(queue.url, body('late'));

    let again: Awaited<ReturnType<typeof receiveAll>> = [];
    await waitFor(
      async () => {
        again = await receiveAll(sqs, queue.url);
        return again.length > 0;
      },
      8_000,
      'the message back on the queue',
    );
    assert.equal(calls, 0);
    assert.equal(again[0]?.Attributes?.ApproximateReceiveCount, '2', 'received once by the open poll, then left');
  });

  it('makes a message a poll brings back after polling stopped visible again at once', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'late-release' });
    // A client of its own whose ReceiveMessage answers wait at a gate once they carry a
    // message: the answer has arrived, polling stops, and only then does the consumer see it.
    const gated = createTestSqs();
    const answered = Promise.withResolvers<void>();
    const gate = Promise.withResolvers<void>();
    gated.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        const messages = (out.output as { Messages?: unknown[] }).Messages;
        if (context.commandName === 'ReceiveMessageCommand' && messages?.length) {
          answered.resolve();
          await gate.promise;
        }
        return out;
      },
      { step: 'initialize', name: 'gate-receives' },
    );
    let calls = 0;
    const { log } = captureLogger();
    const consumer = new SyncConsumer(
      {
        sqs: gated,
        queueUrl: queue.url,
        log,
        sync: async (m) => {
          calls++;
          return resultOf(m);
        },
      },
      { concurrency: 1, waitTimeSeconds: 1, visibilityTimeoutSeconds: 60 },
    );
    consumer.start();
    t.after(() => consumer.stop({ graceMs: 0 }));
    await send(queue.url, body('late'));
    await answered.promise;
    consumer.stopPolling();
    gate.resolve();
    await consumer.stop({ graceMs: 5_000 });

    // Visible now, not after its 60 s visibility timeout.
    const again = await receiveAll(sqs, queue.url);
    assert.equal(calls, 0);
    assert.equal(again.length, 1);
    assert.equal(again[0]?.Attributes?.ApproximateReceiveCount, '2', 'received once by the poll, then released');
  });

  it('syncs different events concurrently but one message of an event at a time, in order', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'fifo' });
    await send(queue.url, body('A', { scheduledFor: '2031-06-01T03:00:00.000Z' }), 'A');
    await send(queue.url, body('B'), 'B');
    await send(queue.url, body('A', { scheduledFor: '2031-06-02T03:00:00.000Z' }), 'A');
    await send(queue.url, body('C'), 'C');
    const active = new Map<string, number>();
    let overall = 0;
    let maxOverall = 0;
    let maxPerEvent = 0;
    const orderOfA: string[] = [];
    // Each sync holds until two run at once: a consumer that ran one at a time would never
    // get there, and the test would fail on its deadline rather than pass by luck.
    const twoAtOnce = Promise.withResolvers<void>();
    const { results } = startConsumer(
      t,
      queue.url,
      async (m) => {
        active.set(m.eventUid, (active.get(m.eventUid) ?? 0) + 1);
        overall++;
        maxOverall = Math.max(maxOverall, overall);
        maxPerEvent = Math.max(maxPerEvent, active.get(m.eventUid)!);
        if (m.eventUid === 'A') orderOfA.push(m.scheduledFor!);
        if (overall >= 2) twoAtOnce.resolve();
        await twoAtOnce.promise;
        await new Promise((resolve) => setImmediate(resolve));
        active.set(m.eventUid, active.get(m.eventUid)! - 1);
        overall--;
        return resultOf(m);
      },
      { concurrency: 3 },
    );

    await waitFor(() => results.length === 4, 60_000, 'four syncs');
    assert.ok(maxOverall >= 2, `events ran concurrently (max ${maxOverall})`);
    assert.ok(maxOverall <= 3, 'never more than the concurrency');
    assert.equal(maxPerEvent, 1, 'one message per event in flight');
    assert.deepEqual(orderOfA, ['2031-06-01T03:00:00.000Z', '2031-06-02T03:00:00.000Z']);
  });

  it('reports in its health whether its latest receive succeeded, for /readyz', async (t) => {
    const queue = await createFifoQueue(sqs, { label: 'health' });
    const { consumer } = startConsumer(t, queue.url, async (m) => resultOf(m), { concurrency: 1 });
    await waitFor(() => consumer.health.lastPollAt !== undefined, 5_000, 'a first poll');
    assert.equal(consumer.health.pollOk, true);

    const missing = `${queue.url.replace(/\.fifo$/, '')}-missing.fifo`;
    const broken = startConsumer(t, missing, async (m) => resultOf(m), { concurrency: 1 });
    await waitFor(() => broken.consumer.health.pollOk === false, 5_000, 'a failed poll');
    assert.equal(broken.consumer.isRunning, true);
    assert.ok(broken.lines.some((l) => l.msg === 'SQS receive failed' && l.level === 50));
  });
});
