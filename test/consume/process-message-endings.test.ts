/**
 * What Stryker found unpinned in process-message.ts (docs/mutation.md): the optional hooks
 * may be left out on every path; a message the heartbeat lost is not touched; a failed
 * visibility change only logs; each ending logs its own line with the message's context
 * (a refused sync is not a failure); and releaseMessages makes every message visible at once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { MessageLostError } from '../../src/consume/heartbeat.ts';
import {
  CONTENTION_RETRY_SECONDS,
  contentionDelaySeconds,
  type FailureInfo,
  type ProcessDeps,
  processMessage,
  releaseMessages,
} from '../../src/consume/process-message.ts';
import { DatabaseLimitError } from '../../src/db/database-limits.ts';
import { errorKind, SyncDeferredError } from '../../src/errors.ts';
import { EventSyncRunningError } from '../../src/sync/claim.ts';
import type { SyncResult } from '../../src/sync/types.ts';
import { captureLogger } from '../support/sqs-queue.ts';
import { sqsRecording, unchangedResult } from './support.ts';

const body = JSON.stringify({ eventUid: 'e', externalEventId: 'x', locationUid: 'l', providerType: 'LUMA' });
const message: Message = {
  MessageId: 'm-1',
  ReceiptHandle: 'r-1',
  Body: body,
  Attributes: { ApproximateReceiveCount: '4', MessageGroupId: 'e' },
};

/** Deps without the optional hooks (onResult, onFailure, poison queue). */
function bareDeps(sync: ProcessDeps['sync'], sqs: SQSClient) {
  const { log, lines } = captureLogger();
  const deps: ProcessDeps = { sqs, queueUrl: 'http://sqs.test/q.fifo', log, retryKinds: new Set(), sync };
  return { deps, lines };
}

const ok = async (): Promise<SyncResult> => unchangedResult({ eventUid: 'e', providerType: 'LUMA' });
const failing = (err: unknown) => async (): Promise<SyncResult> => Promise.reject(err);
const live = () => new AbortController().signal;

describe('processing a message without the optional hooks', () => {
  it('acknowledges a success and rethrows a failure as it was, logging the message’s context', async () => {
    const { sqs } = sqsRecording();
    const success = bareDeps(ok, sqs);
    assert.equal(await processMessage(success.deps, message, live()), message);
    const received = success.lines.find((l) => l.msg === 'sync message received');
    assert.equal(received?.messageId, 'm-1');
    assert.equal(received?.receiveCount, 4, 'the receive count SQS gave, not a default');
    assert.equal(received?.groupId, 'e');

    const err = new Error('database down');
    const failure = bareDeps(failing(err), sqs);
    await assert.rejects(processMessage(failure.deps, message, live()), (e) => e === err);
    const warned = failure.lines.find((l) => l.msg === 'sync failed: message left for redelivery');
    assert.equal(warned?.messageId, 'm-1');
    assert.equal(warned?.kind, 'unexpected');
    assert.equal(warned?.permanent, false);
  });

  it('gives back a message whose sync shutdown aborted, with no heartbeat to stop', async () => {
    const { sqs, calls } = sqsRecording();
    const controller = new AbortController();
    controller.abort(new Error('consumer stopped'));
    const { deps, lines } = bareDeps(failing(controller.signal.reason), sqs);
    await assert.rejects(processMessage(deps, message, controller.signal), /consumer stopped/);
    assert.deepEqual(calls, ['ChangeMessageVisibilityCommand r-1 0']);
    assert.equal(lines.find((l) => l.level === 40)?.messageId, 'm-1');
  });
});

describe('the endings of a message', () => {
  it('leaves a message the heartbeat lost alone: no visibility change on a receipt no longer ours', async () => {
    const { sqs, calls } = sqsRecording();
    const controller = new AbortController();
    controller.abort(new MessageLostError('visibility could not be extended'));
    const { deps, lines } = bareDeps(failing(controller.signal.reason), sqs);
    const failures: FailureInfo[] = [];
    deps.onFailure = (_err, info) => failures.push(info);
    let stopped = false;
    await assert.rejects(
      processMessage(deps, message, controller.signal, () => {
        stopped = true;
      }),
      MessageLostError,
    );
    assert.deepEqual(calls, []);
    assert.equal(stopped, false);
    // Counted as a retryable failure the queue redelivers: neither permanent nor acknowledged.
    assert.deepEqual(failures, [
      { messageId: 'm-1', kind: errorKind(controller.signal.reason), permanent: false, acknowledged: false },
    ]);
    const warned = lines.find((l) => l.msg === 'sync aborted: its message can no longer be held');
    assert.equal(warned?.reason, 'visibility could not be extended');
    assert.equal(warned?.messageId, 'm-1');
  });

  it('only logs a visibility change that failed, and still rethrows the sync’s own error', async () => {
    const { sqs, calls } = sqsRecording({ failing: true });
    const deferred = new SyncDeferredError('Luma asked to wait', 600);
    const { deps, lines } = bareDeps(failing(deferred), sqs);
    await assert.rejects(processMessage(deps, message, live()), (e) => e === deferred);
    assert.deepEqual(calls, ['ChangeMessageVisibilityCommand r-1 600']);
    const info = lines.find((l) => l.msg === 'sync deferred: message comes back later');
    assert.equal(info?.delaySeconds, 600);
    assert.equal(info?.messageId, 'm-1');
    const warned = lines.find((l) => l.msg === 'could not change the visibility of a message');
    assert.equal(warned?.messageId, 'm-1');
    assert.equal(warned?.seconds, 600);
  });

  it('logs a refused sync as refused, never as a failed one, backing off from the default visibility', async () => {
    const { sqs, calls } = sqsRecording();
    const refused = new EventSyncRunningError('e', 'other:1');
    const { deps, lines } = bareDeps(failing(refused), sqs);
    await assert.rejects(processMessage(deps, message, live()), (e) => e === refused);
    const info = lines.find((l) => l.msg === 'sync refused: the event is being synced elsewhere');
    assert.equal(info?.messageId, 'm-1');
    assert.equal(info?.kind, 'event_sync_running');
    assert.ok(!lines.some((l) => l.msg === 'sync failed: message left for redelivery'));
    // Received a 4th time, no visibility timeout given: 120 s (the default) doubled twice.
    assert.deepEqual(calls, ['ChangeMessageVisibilityCommand r-1 480']);
    assert.equal(info?.delaySeconds, 480);
  });
});

describe('a sync that met contention in the database', () => {
  const lockTimeout = () =>
    new DatabaseLimitError(
      'lock_timeout',
      'stale removal',
      undefined,
      Object.assign(new Error('canceling statement due to lock timeout'), { name: 'PostgresError', code: '55P03' }),
    );

  it('gives the message back in a few seconds the first time, counted as no failure, with its own line', async () => {
    const { sqs, calls } = sqsRecording();
    const failures: FailureInfo[] = [];
    const { deps, lines } = bareDeps(failing(lockTimeout()), sqs);
    deps.onFailure = (_err, info) => failures.push(info);
    const first = { ...message, Attributes: { ApproximateReceiveCount: '1' } };
    await assert.rejects(processMessage(deps, first, live()), DatabaseLimitError);
    assert.deepEqual(calls, [`ChangeMessageVisibilityCommand r-1 ${CONTENTION_RETRY_SECONDS}`]);
    assert.deepEqual(failures, [{ messageId: 'm-1', kind: 'lock_timeout', permanent: false, acknowledged: false }]);
    const line = lines.find((l) => l.msg === 'sync met contention in the database: message comes back later');
    assert.equal(line?.kind, 'lock_timeout');
    assert.equal(line?.delaySeconds, CONTENTION_RETRY_SECONDS);
    assert.match(String(line?.reason), /lock_timeout ran out: stale removal waited/);
    assert.equal(line?.messageId, 'm-1');
    assert.ok(!lines.some((l) => l.msg === 'sync failed: message left for redelivery'));
  });

  it('received again, waits the visibility timeout doubled per receive (at most 12 h), as a refusal does', async () => {
    const { sqs, calls } = sqsRecording();
    const { deps } = bareDeps(failing(lockTimeout()), sqs);
    await assert.rejects(processMessage({ ...deps, maxRefusalDelaySeconds: 60 }, message, live()));
    assert.deepEqual(calls, ['ChangeMessageVisibilityCommand r-1 240'], 'receive 4: 60 s doubled twice');
    assert.equal(contentionDelaySeconds(120), CONTENTION_RETRY_SECONDS);
    assert.equal(contentionDelaySeconds(120, 1), CONTENTION_RETRY_SECONDS);
    assert.equal(contentionDelaySeconds(120, 2), 120);
    assert.equal(contentionDelaySeconds(120, 3), 240);
    assert.equal(contentionDelaySeconds(120, 20), 43_200);
  });

  it('a statement_timeout is no contention: left for redelivery as a failure', async () => {
    const { sqs, calls } = sqsRecording();
    const timeout = new DatabaseLimitError('statement_timeout', 'page 2', undefined, new Error('x'));
    const { deps, lines } = bareDeps(failing(timeout), sqs);
    await assert.rejects(processMessage(deps, message, live()));
    assert.deepEqual(calls, []);
    assert.equal(lines.find((l) => l.msg === 'sync failed: message left for redelivery')?.kind, 'statement_timeout');
  });
});

describe('releaseMessages', () => {
  it('makes each message visible at once; a failed release only logs', async () => {
    const messages = [message, { ...message, MessageId: 'm-2', ReceiptHandle: 'r-2' }];
    const good = sqsRecording();
    const released = captureLogger();
    await releaseMessages({ sqs: good.sqs, queueUrl: 'http://sqs.test/q.fifo', log: released.log }, messages);
    assert.deepEqual(good.calls, ['ChangeMessageVisibilityCommand r-1 0', 'ChangeMessageVisibilityCommand r-2 0']);
    assert.deepEqual(
      released.lines.filter((l) => l.msg === 'message received while stopping: released').map((l) => l.messageId),
      ['m-1', 'm-2'],
    );

    const bad = sqsRecording({ failing: true });
    const failed = captureLogger();
    await releaseMessages({ sqs: bad.sqs, queueUrl: 'http://sqs.test/q.fifo', log: failed.log }, messages);
    assert.deepEqual(
      failed.lines.filter((l) => l.msg === 'could not release a message').map((l) => l.messageId),
      ['m-1', 'm-2'],
    );
  });
});
