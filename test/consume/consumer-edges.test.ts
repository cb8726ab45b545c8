/**
 * What Stryker found unpinned in consumer.ts (docs/mutation.md), driven through a scripted
 * SQS client (test/support/scripted-sqs.ts) instead of a server: sqs-consumer's pollers
 * run as in production, but every receive, delete and visibility change is answered by
 * the test, so it can hold one open (a delete in flight at stop(), an extension in flight
 * when a message is given back), and the heartbeat's and stop()'s timers are mocked.
 * What is pinned: the heartbeat chosen at start() and the warning without one; start()
 * once; isRunning; stopPolling() ending the open long poll without reporting an SQS
 * failure; stop()'s grace, its abort, its waits for aborted syncs and for deletes and
 * releases, and its lines; the in-flight count; a lost message aborting its sync; the
 * worker-level permanent kinds left for redelivery.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SyncConsumer, type SyncConsumerOptions } from '../../src/consume/consumer.ts';
import { type HeartbeatFailureReason, MessageLostError } from '../../src/consume/heartbeat.ts';
import type { FailureInfo } from '../../src/consume/process-message.ts';
import { PermanentError, SyncDeferredError } from '../../src/errors.ts';
import type { SyncMessage, SyncResult } from '../../src/sync/types.ts';
import { messageFor, ScriptedSqs } from '../support/scripted-sqs.ts';
import { captureLogger, waitFor } from '../support/sqs-queue.ts';

/**
 * Each test takes well under a second; the bound only ends a test a mutant leaves waiting
 * (a message never received, a stop() that never returns), so it fails instead of hanging.
 */
const bounded = { timeout: 20_000 };

const QUEUE_URL = 'http://sqs.test/000000000000/sync.fifo';

function resultOf(message: SyncMessage): SyncResult {
  const counts = { pages: 1, fetched: 0, matched: 0, created: 0, skipped: 0, removed: 0 };
  return { eventUid: message.eventUid, providerType: message.providerType, ...counts, dryRun: false, durationMs: 1 };
}

type Sync = (message: SyncMessage, signal: AbortSignal) => Promise<SyncResult>;

/** A sync that succeeds at once. */
const instantSync: Sync = async (m) => resultOf(m);

/** A consumer (not started) on a scripted SQS client; stopped after the test. */
function consumerWith(t: TestContext, sync: Sync, options: Partial<SyncConsumerOptions> = {}) {
  const sqs = new ScriptedSqs();
  const { log, lines } = captureLogger();
  const failures: Array<FailureInfo & { err: unknown }> = [];
  const heartbeatFailures: HeartbeatFailureReason[] = [];
  const consumer = new SyncConsumer(
    { sqs: sqs.client, queueUrl: QUEUE_URL, log, sync },
    {
      concurrency: 1,
      // Its heartbeat (every 200 s) never beats within a test that does not mock it.
      visibilityTimeoutSeconds: 600,
      waitTimeSeconds: 20,
      onFailure: (err, info) => failures.push({ err, ...info }),
      onHeartbeatFailure: (reason) => heartbeatFailures.push(reason),
      ...options,
    },
  );
  // Not awaited: a test may leave stop() waiting on a mocked timer.
  t.after(() => void consumer.stop({ graceMs: 0 }));
  const line = (msg: string) => lines.find((l) => l.msg === msg);
  return { sqs, consumer, lines, line, failures, heartbeatFailures };
}

/** A sync that runs until the test lets it end; `signal` is the one it was given. */
function heldSync() {
  const started = Promise.withResolvers<AbortSignal>();
  const end = Promise.withResolvers<void>();
  const fail = Promise.withResolvers<never>();
  const sync: Sync = async (m, signal) => {
    started.resolve(signal);
    await Promise.race([end.promise, fail.promise]);
    return resultOf(m);
  };
  return { sync, started: started.promise, end: () => end.resolve(), fail: (err: unknown) => fail.reject(err) };
}

/** consumerWith() on a heldSync(), started and given one message: returned once its sync has begun. */
async function consumerHoldingSync(t: TestContext, eventUid: string, options: Partial<SyncConsumerOptions> = {}) {
  const held = heldSync();
  const parts = consumerWith(t, held.sync, options);
  parts.consumer.start();
  parts.sqs.deliver(messageFor(eventUid));
  const signal = await held.started;
  return { ...parts, held, signal };
}

/** Waits until the consumer has sent `count` deletes. */
function waitForDeletes(sqs: ScriptedSqs, count: number, what = 'the delete') {
  return waitFor(() => sqs.named('DeleteMessageCommand').length === count, 10_000, what);
}

/** Whether `promise` has settled, looked at after the microtasks queued so far have run. */
function tracked<T>(promise: Promise<T>) {
  const state = { settled: false, value: undefined as T | undefined };
  promise.then((value) => {
    state.settled = true;
    state.value = value;
  });
  return state;
}

/** Lets every callback already due run: enough for anything that waits on no timer. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Calls stop() with setTimeout mocked, so its waits end only when the test moves the clock,
 * and lets what is due run; the test then looks at whether it has returned.
 */
async function stopOnMockedClock(t: TestContext, consumer: SyncConsumer, options?: { graceMs: number }) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const stopped = tracked(consumer.stop(options));
  await flush();
  return stopped;
}

/** A consumer that synced its one message and whose delete SQS has not answered yet. */
async function deleteInFlight(t: TestContext) {
  const { sqs, consumer } = consumerWith(t, instantSync);
  const deleted = Promise.withResolvers<void>();
  sqs.onDelete = () => deleted.promise;
  consumer.start();
  sqs.deliver(messageFor('acked'));
  await waitForDeletes(sqs, 1);
  return { consumer, answerDelete: () => deleted.resolve() };
}

const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('SyncConsumer edges (scripted SQS)', () => {
  it(
    'is not running before start(); start() twice starts one poller per slot once and logs its settings',
    bounded,
    async (t) => {
      // sqs-consumer prints a FIFO warning with console.log unless told not to: stdout carries JSON lines only.
      const printed = t.mock.method(console, 'log', () => undefined);
      const { sqs, consumer, lines } = consumerWith(t, instantSync, {
        concurrency: 2,
        visibilityTimeoutSeconds: 9,
      });
      assert.equal(consumer.isRunning, false, 'not running before start()');

      consumer.start();
      consumer.start();
      await waitFor(() => sqs.openReceives === 2, 10_000, 'two long polls');
      await sleep(20);
      assert.equal(sqs.named('ReceiveMessageCommand').length, 2, 'one receive per slot, not per start() call');
      assert.equal(consumer.isRunning, true);

      const started = lines.filter((l) => l.msg === 'consumer started');
      assert.equal(started.length, 1);
      const { component, queueUrl, concurrency, visibility, heartbeatInterval } = started[0]!;
      assert.deepEqual(
        { component, queueUrl, concurrency, visibility, heartbeatInterval },
        { component: 'SyncConsumer', queueUrl: QUEUE_URL, concurrency: 2, visibility: 9, heartbeatInterval: 3 },
      );
      assert.ok(
        lines.every((l) => l.component === 'SyncConsumer'),
        'every line names the component',
      );
      assert.ok(!lines.some((l) => l.level >= 40), 'no warning with a heartbeat');
      assert.equal(printed.mock.callCount(), 0, 'nothing printed outside the log');
    },
  );

  it('extends a running sync’s message every third of the visibility timeout by default', bounded, async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const { sqs, held } = await consumerHoldingSync(t, 'slow', { visibilityTimeoutSeconds: 9 });

    t.mock.timers.tick(2_999);
    assert.deepEqual(sqs.visibilityChanges(), [], 'nothing before the first beat');
    t.mock.timers.tick(1);
    assert.deepEqual(sqs.visibilityChanges(), [9], 'one extension by the whole timeout after 3 s');
    t.mock.timers.tick(3_000);
    assert.deepEqual(sqs.visibilityChanges(), [9, 9]);

    held.end();
    await waitForDeletes(sqs, 1);
    t.mock.timers.tick(30_000);
    assert.deepEqual(sqs.visibilityChanges(), [9, 9], 'never extended after its sync ended');
  });

  for (const { why, visibility, heartbeat } of [
    { why: 'an interval under 1 s', visibility: 3, heartbeat: 0.5 },
    { why: 'an interval equal to the visibility timeout', visibility: 3, heartbeat: 3 },
    { why: 'an interval longer than the visibility timeout', visibility: 3, heartbeat: 4 },
    { why: 'a visibility timeout of 1 s (a third of it is under 1 s)', visibility: 1, heartbeat: undefined },
  ]) {
    it(`runs no heartbeat with ${why}, warns at start, and still gives a deferred message back`, bounded, async (t) => {
      // Real timers: a hold started without an interval would beat every millisecond.
      const held = heldSync();
      const { sqs, consumer, line, failures } = consumerWith(t, held.sync, {
        visibilityTimeoutSeconds: visibility,
        ...(heartbeat === undefined ? {} : { heartbeatIntervalSeconds: heartbeat }),
      });
      consumer.start();
      const warning = line('no heartbeat: a sync longer than the visibility timeout is redelivered');
      assert.equal(warning?.level, 40);
      assert.equal(warning?.visibility, visibility);
      assert.equal(warning?.heartbeat, heartbeat ?? 1);
      const started = line('consumer started');
      assert.ok(started && !('heartbeatInterval' in started), 'started without a heartbeat interval');

      sqs.deliver(messageFor('unheld'));
      await held.started;
      await sleep(100);
      assert.deepEqual(sqs.visibilityChanges(), [], 'never extended');

      // Deferred: given back for its delay even though there is no heartbeat to end first.
      held.fail(new SyncDeferredError('Luma asked to wait', 120));
      await waitFor(() => failures.length === 1, 10_000, 'the deferred sync');
      await waitFor(() => sqs.visibilityChanges().length === 1, 10_000, 'the give-back');
      assert.deepEqual(sqs.visibilityChanges(), [120]);
      assert.equal(sqs.named('DeleteMessageCommand').length, 0);
    });
  }

  it('aborts the sync when a visibility extension finds its receipt gone, and reports why', bounded, async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const held = heldSync();
    const { sqs, consumer, heartbeatFailures, failures } = consumerWith(t, held.sync, {
      visibilityTimeoutSeconds: 3,
      heartbeatIntervalSeconds: 1,
    });
    sqs.onChangeVisibility = () => {
      throw Object.assign(new Error('The receipt handle has expired'), { name: 'ReceiptHandleIsInvalid' });
    };
    consumer.start();
    sqs.deliver(messageFor('lost'));
    const signal = await held.started;
    signal.addEventListener('abort', () => held.fail(signal.reason));

    t.mock.timers.tick(1_000);
    await waitFor(() => signal.aborted, 10_000, 'the sync to be aborted');
    assert.ok(signal.reason instanceof MessageLostError, 'aborted because its message is lost');
    assert.deepEqual(heartbeatFailures, ['receipt_invalid']);
    await waitFor(() => failures.length === 1, 10_000, 'the aborted sync to end');
    assert.deepEqual(
      failures.map((f) => [f.acknowledged, f.permanent]),
      [[false, false]],
    );
    assert.equal(sqs.named('DeleteMessageCommand').length, 0, 'a lost message is left alone');
  });

  it(
    'lets an extension in flight land before giving a deferred message back, so it cannot undo the give-back',
    bounded,
    async (t) => {
      t.mock.timers.enable({ apis: ['setInterval'] });
      const held = heldSync();
      const { sqs, consumer, line } = consumerWith(t, held.sync, {
        visibilityTimeoutSeconds: 3,
        heartbeatIntervalSeconds: 1,
      });
      const extension = Promise.withResolvers<void>();
      sqs.onChangeVisibility = (input) => (input.VisibilityTimeout === 3 ? extension.promise : {});
      consumer.start();
      sqs.deliver(messageFor('deferred'));
      await held.started;

      t.mock.timers.tick(1_000);
      assert.deepEqual(sqs.visibilityChanges(), [3], 'an extension is in flight');
      held.fail(new SyncDeferredError('Luma asked to wait', 60));
      await waitFor(() => line('sync deferred: message comes back later') !== undefined, 10_000, 'the deferral');
      await sleep(30);
      assert.deepEqual(sqs.visibilityChanges(), [3], 'the give-back waits for the extension in flight');

      extension.resolve();
      await waitFor(() => sqs.visibilityChanges().length === 2, 10_000, 'the give-back');
      const [, giveBack] = sqs.named('ChangeMessageVisibilityCommand');
      assert.equal(giveBack?.input.VisibilityTimeout, 60);
      assert.equal(giveBack?.pendingVisibilityChanges, 0, 'sent after the extension was answered');
    },
  );

  it('stopPolling() ends the open long poll at once and does not report it as an SQS failure', bounded, async (t) => {
    const { sqs, consumer, lines, line } = consumerWith(t, instantSync);
    consumer.start();
    await waitFor(() => sqs.openReceives === 1, 10_000, 'the long poll');

    consumer.stopPolling();
    await waitFor(() => sqs.abortedReceives === 1, 10_000, 'the long poll to be aborted');
    assert.equal(sqs.openReceives, 0);
    await waitFor(() => line('long poll aborted: polling stopped') !== undefined, 10_000, 'the aborted poll');
    assert.equal(consumer.isRunning, false);
    assert.equal(consumer.health.pollOk, true, 'readiness is not failed by our own abort');
    assert.ok(!lines.some((l) => l.level >= 40), 'no warning or error');
    assert.equal(sqs.named('ReceiveMessageCommand').length, 1, 'no poll after stopping');
  });

  it(
    'releases, with its id in the log, a message a poll answers after polling stopped, and stop() waits for that',
    bounded,
    async (t) => {
      const { sqs, consumer, line } = consumerWith(t, instantSync);
      const release = Promise.withResolvers<void>();
      sqs.onChangeVisibility = () => release.promise;
      sqs.answerAfterAbort = true;
      consumer.start();
      await waitFor(() => sqs.openReceives === 1, 10_000, 'the long poll');
      consumer.stopPolling();
      const late = messageFor('late');
      sqs.deliver(late);
      await waitFor(() => sqs.visibilityChanges().length === 1, 10_000, 'the release');
      assert.deepEqual(sqs.visibilityChanges(), [0]);
      assert.equal(line('message received while stopping: releasing it')?.messageId, late.MessageId);

      const stopped = await stopOnMockedClock(t, consumer);
      assert.equal(stopped.settled, false, 'stop() waits for the release in flight');
      release.resolve();
      await flush();
      assert.equal(stopped.settled, true, 'and returns once it is answered');
    },
  );

  it(
    'stop() without a grace gives a sync in flight 25 s, then aborts it, and reports what completed',
    bounded,
    async (t) => {
      const { sqs, consumer, lines, line, held, signal } = await consumerHoldingSync(t, 'finishing');
      assert.equal(consumer.health.inFlight, 1);

      const stopping = await stopOnMockedClock(t, consumer);
      t.mock.timers.tick(24_999);
      await flush();
      assert.equal(signal.aborted, false, 'not aborted within the grace');
      held.end();
      await flush();
      assert.deepEqual(stopping.value, { completed: 1, aborted: 0 });
      assert.equal(sqs.named('DeleteMessageCommand').length, 1, 'deleted before stop() returned');
      assert.equal(consumer.health.inFlight, 0);
      assert.deepEqual([line('consumer stopped')?.completed, line('consumer stopped')?.aborted], [1, 0]);
      assert.ok(!lines.some((l) => l.level >= 40), 'no warning when nothing was aborted');
    },
  );

  it('counts a sync as in flight only until it ends: stop() afterwards completed nothing', bounded, async (t) => {
    const { sqs, consumer, line } = consumerWith(t, instantSync);
    consumer.start();
    sqs.deliver(messageFor('quick'));
    await waitForDeletes(sqs, 1);
    assert.equal(consumer.health.inFlight, 0);
    assert.deepEqual(await consumer.stop({ graceMs: 60_000 }), { completed: 0, aborted: 0 });
    assert.equal(line('consumer stopped')?.completed, 0);
    assert.equal(consumer.isRunning, false, 'stop() stops polling');
    assert.equal(sqs.abortedReceives, 1, 'and ends the open long poll');
  });

  it(
    'asks each receive for the receive count and the group id, which the message’s line then carries',
    bounded,
    async (t) => {
      const { sqs, consumer, line } = consumerWith(t, instantSync);
      consumer.start();
      const message = messageFor('counted');
      sqs.deliver(message);
      await waitForDeletes(sqs, 1);
      const received = line('sync message received');
      assert.deepEqual(
        [received?.messageId, received?.receiveCount, received?.groupId],
        [message.MessageId, 3, 'counted'],
      );
    },
  );

  it('reports a failed receive before stopping: readiness fails and the failure is logged', bounded, async (t) => {
    const { sqs, consumer, line } = consumerWith(t, instantSync);
    sqs.failReceives = true;
    consumer.start();
    // The first failure's back-off starts from the poll after next: a second receive comes at once.
    await waitFor(() => sqs.named('ReceiveMessageCommand').length >= 2, 10_000, 'a second receive');
    assert.equal(line('SQS receive failed')?.level, 50);
    assert.equal(consumer.health.pollOk, false);
    assert.equal(consumer.isRunning, true, 'still polling: SQS may come back');
  });

  it('deletes a synced message when it runs without a heartbeat', bounded, async (t) => {
    const { sqs, consumer, failures } = consumerWith(t, instantSync, { visibilityTimeoutSeconds: 1 });
    consumer.start();
    sqs.deliver(messageFor('unheld-ok'));
    await waitForDeletes(sqs, 1);
    assert.deepEqual(failures, []);
  });

  it(
    'aborts the syncs left at the end of the grace, warns with their count, and by default waits for them to give their message back',
    bounded,
    async (t) => {
      const { sqs, consumer, line, held, signal } = await consumerHoldingSync(t, 'interrupted');
      // The aborted sync takes a moment to stop after its page, as a real one does.
      signal.addEventListener('abort', () => void sleep(100).then(() => held.fail(signal.reason)));

      const report = await consumer.stop({ graceMs: 0 });
      assert.deepEqual(report, { completed: 0, aborted: 1 });
      assert.deepEqual(sqs.visibilityChanges(), [0], 'made visible again before stop() returned');
      const warning = line('syncs still running at the end of the grace: aborting them');
      assert.deepEqual([warning?.level, warning?.graceMs, warning?.aborted], [40, 0, 1]);
      assert.deepEqual([line('consumer stopped')?.completed, line('consumer stopped')?.aborted], [0, 1]);
    },
  );

  it(
    'stop() waits for the delete of a sync that just finished: until it ends, or 5 s by default',
    bounded,
    async (t) => {
      const { consumer, answerDelete } = await deleteInFlight(t);

      const stopped = await stopOnMockedClock(t, consumer, { graceMs: 0 });
      t.mock.timers.tick(4_999);
      await flush();
      assert.equal(stopped.settled, false, 'waits while the delete is in flight');
      t.mock.timers.tick(1);
      await flush();
      assert.equal(stopped.settled, true, 'but not longer than 5 s');
      answerDelete();
    },
  );

  it('stop() returns as soon as the delete it waits for ends', bounded, async (t) => {
    const { consumer, answerDelete } = await deleteInFlight(t);

    const stopped = await stopOnMockedClock(t, consumer, { graceMs: 0 });
    assert.equal(stopped.settled, false, 'waits for the delete');
    answerDelete();
    await flush();
    assert.equal(stopped.settled, true, 'returns once the delete ended');
  });

  it('stop() does not wait for a delete it cannot see end (a message without an id)', bounded, async (t) => {
    const { sqs, consumer } = consumerWith(t, instantSync);
    consumer.start();
    sqs.deliver(messageFor('no-id', { withoutId: true }));
    await waitForDeletes(sqs, 1);
    const stopped = await stopOnMockedClock(t, consumer, { graceMs: 0 });
    assert.equal(stopped.settled, true);
  });

  it('a message SQS hands out twice at once is synced and deleted by both without an error', bounded, async (t) => {
    const synced: string[] = [];
    const bothIn = Promise.withResolvers<void>();
    const { sqs, consumer, lines } = consumerWith(
      t,
      async (m) => {
        synced.push(m.eventUid);
        if (synced.length === 2) bothIn.resolve();
        await bothIn.promise;
        return resultOf(m);
      },
      { concurrency: 2 },
    );
    consumer.start();
    const message = messageFor('twice');
    sqs.deliver(message);
    sqs.deliver({ ...message, ReceiptHandle: `${message.ReceiptHandle}-again` });
    await waitForDeletes(sqs, 2, 'both deletes');
    await flush();
    assert.deepEqual(synced, ['twice', 'twice']);
    assert.ok(!lines.some((l) => l.msg === 'processing_error' || l.level >= 40), 'no handler error');
    const stopped = await stopOnMockedClock(t, consumer, { graceMs: 0 });
    assert.equal(stopped.settled, true);
  });

  it('stop() leaves no timer behind to hold the process open', bounded, async (t) => {
    const { consumer, held } = await consumerHoldingSync(t, 'finishing');
    const before = timeouts();
    // Every timer made from here on, cleared after the test whatever happens.
    const created = t.mock.method(globalThis, 'setTimeout');
    t.after(() => {
      for (const call of created.mock.calls) clearTimeout(call.result as NodeJS.Timeout);
    });

    const stopping = tracked(consumer.stop({ graceMs: 600_000 }));
    await flush();
    held.end();
    await waitFor(() => stopping.settled, 10_000, 'stop()');
    assert.deepEqual(stopping.value, { completed: 1, aborted: 0 });
    assert.ok(timeouts() <= before, `no timer left (${timeouts()} after, ${before} before)`);
  });

  for (const kind of ['luma_auth', 'provider_not_configured']) {
    it(
      `leaves a message failing with ${kind} (about the worker, not the message) for redelivery`,
      bounded,
      async (t) => {
        const { sqs, consumer, failures } = consumerWith(t, async () => {
          throw new PermanentError(kind, 'fixed by the operator, not by the message');
        });
        consumer.start();
        sqs.deliver(messageFor('worker-problem'));
        await waitFor(() => failures.length === 1, 10_000, 'the failed sync');
        assert.deepEqual(
          failures.map((f) => [f.kind, f.permanent, f.acknowledged]),
          [[kind, true, false]],
        );
        await sleep(20);
        assert.equal(sqs.named('DeleteMessageCommand').length, 0, 'not deleted');
      },
    );
  }
});
