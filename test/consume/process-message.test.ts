import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import fc from 'fast-check';
import { parseSyncMessage } from '../../src/consume/message.ts';
import type { FailureInfo } from '../../src/consume/process-message.ts';
import { type ProcessDeps, processMessage } from '../../src/consume/process-message.ts';
import { PermanentError, SyncDeferredError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { EventSyncRunningError } from '../../src/sync/claim.ts';
import type { SyncResult } from '../../src/sync/types.ts';
import { sqsRecording, unchangedResult } from './support.ts';

/** The sync's possible endings: success, a retryable error, a permanent one, a worker-level one. */
const outcomes = ['ok', 'retryable', 'permanent', 'worker'] as const;
type Outcome = (typeof outcomes)[number];

/** Where the poison copy goes: no poison queue, one that accepts it, one that refuses it. */
const poisonQueues = ['none', 'accepts', 'refuses'] as const;
type PoisonQueue = (typeof poisonQueues)[number];

function depsFor(outcome: Outcome, failures: FailureInfo[], poison: PoisonQueue = 'none'): ProcessDeps {
  return {
    sqs: {
      send: async () => {
        if (poison === 'refuses') throw new Error('poison queue unreachable');
        return {};
      },
    } as unknown as SQSClient,
    queueUrl: 'http://sqs.test/000000000000/sync.fifo',
    log: silentLogger,
    retryKinds: new Set(['luma_auth']),
    ...(poison === 'none' ? {} : { poisonQueueUrl: 'http://sqs.test/000000000000/poison' }),
    onFailure: (_err, info) => failures.push(info),
    sync: async (m) => {
      if (outcome === 'retryable') throw new Error('database down');
      if (outcome === 'permanent') throw new PermanentError('event_not_found', 'gone');
      if (outcome === 'worker') throw new PermanentError('luma_auth', 'key rejected');
      return unchangedResult(m);
    },
  };
}

/**
 * What must happen to a message, from the branch it takes: the expected failure report
 * (none on success), and whether the message is acknowledged. The body's validity comes
 * from the parser, which has its own tests (message.test.ts); everything after it is what
 * this property checks.
 */
function expectedFor(body: string | undefined, outcome: Outcome, poison: PoisonQueue) {
  let parseKind: string | undefined;
  try {
    parseSyncMessage(body);
  } catch (err) {
    parseKind = (err as PermanentError).kind;
  }
  // A message that can never succeed is acknowledged, unless its copy to the poison queue failed.
  const dropped = poison !== 'refuses';
  if (parseKind !== undefined)
    return { acked: dropped, failure: { kind: parseKind, permanent: true, acknowledged: dropped } };
  switch (outcome) {
    case 'ok':
      return { acked: true, failure: undefined };
    case 'retryable':
      return { acked: false, failure: { kind: 'unexpected', permanent: false, acknowledged: false } };
    case 'permanent':
      return { acked: dropped, failure: { kind: 'event_not_found', permanent: true, acknowledged: dropped } };
    case 'worker':
      // Permanent, but about the worker (its key), not the message: always left for redelivery.
      return { acked: false, failure: { kind: 'luma_auth', permanent: true, acknowledged: false } };
  }
}

const validBody = fc
  .record({
    eventUid: fc.string({ minLength: 1, maxLength: 40 }),
    externalEventId: fc.string({ minLength: 1, maxLength: 40 }),
    locationUid: fc.string({ minLength: 1, maxLength: 40 }),
    providerType: fc.constantFrom('LUMA', 'EVENTBRITE', 'MEETUP'),
  })
  .map((m) => JSON.stringify(m));
const anyBody = fc.oneof(fc.string(), fc.json(), validBody, fc.constant(undefined));

describe('processMessage, on arbitrary bodies and sync outcomes', () => {
  it('acknowledges or leaves each message exactly as its branch requires, and reports the failure it met', async () => {
    await fc.assert(
      fc.asyncProperty(
        anyBody,
        fc.constantFrom(...outcomes),
        fc.constantFrom(...poisonQueues),
        async (body, outcome, poison) => {
          const failures: FailureInfo[] = [];
          const results: SyncResult[] = [];
          const message: Message = { MessageId: 'm-1', ReceiptHandle: 'r-1', Body: body };
          const deps = { ...depsFor(outcome, failures, poison), onResult: (r: SyncResult) => results.push(r) };
          const settled = await processMessage(deps, message, new AbortController().signal).then(
            (acked) => ({ acked: true, returned: acked }),
            () => ({ acked: false, returned: undefined }),
          );
          const expected = expectedFor(body, outcome, poison);
          assert.equal(settled.acked, expected.acked);
          // Resolving with the message is what makes sqs-consumer delete it.
          if (settled.acked) assert.equal(settled.returned, message);
          assert.deepEqual(failures, expected.failure ? [{ messageId: 'm-1', ...expected.failure }] : []);
          assert.equal(results.length, expected.failure ? 0 : 1);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('leaves a message whose sync was aborted by shutdown, whatever the error', async () => {
    const controller = new AbortController();
    controller.abort(new Error('consumer stopped'));
    const failures: FailureInfo[] = [];
    const message: Message = {
      MessageId: 'm-2',
      ReceiptHandle: 'r-2',
      Body: JSON.stringify({ eventUid: 'e', externalEventId: 'x', locationUid: 'l', providerType: 'LUMA' }),
    };
    await assert.rejects(processMessage(depsFor('permanent', failures), message, controller.signal));
    assert.deepEqual(failures, [{ messageId: 'm-2', kind: 'event_not_found', permanent: false, acknowledged: false }]);
  });

  it('leaves the message for redelivery when another sync of the event is running', async () => {
    const failures: FailureInfo[] = [];
    const message: Message = {
      MessageId: 'm-3',
      ReceiptHandle: 'r-3',
      Body: JSON.stringify({ eventUid: 'e', externalEventId: 'x', locationUid: 'l', providerType: 'LUMA' }),
    };
    const deps = {
      ...depsFor('ok', failures),
      sync: async () => {
        throw new EventSyncRunningError('e');
      },
    };
    await assert.rejects(processMessage(deps, message, new AbortController().signal), EventSyncRunningError);
    assert.deepEqual(failures, [
      { messageId: 'm-3', kind: 'event_sync_running', permanent: false, acknowledged: false },
    ]);
  });

  it('makes a message whose sync was aborted by shutdown visible again at once, after stopping its heartbeat', async () => {
    const controller = new AbortController();
    controller.abort(new Error('consumer stopped'));
    const { sqs, calls } = sqsRecording();
    const message: Message = { MessageId: 'm-4', ReceiptHandle: 'r-4', Body: validMessageBody };
    const deps = {
      ...depsFor('ok', []),
      sqs,
      sync: async () => Promise.reject(controller.signal.reason),
    };
    await assert.rejects(
      processMessage(deps, message, controller.signal, () => {
        calls.push('hold stopped');
      }),
    );
    assert.deepEqual(calls, ['hold stopped', 'ChangeMessageVisibilityCommand r-4 0']);
  });

  it("gives a deferred sync's message back with its delay, capped at the 12 hours SQS allows", async () => {
    for (const [delay, expected] of [
      [600, 600],
      [100_000, 43_200],
    ] as const) {
      const { sqs, calls } = sqsRecording();
      const failures: FailureInfo[] = [];
      const message: Message = { MessageId: 'm-5', ReceiptHandle: 'r-5', Body: validMessageBody };
      const deps = {
        ...depsFor('ok', failures),
        sqs,
        sync: async () => {
          throw new SyncDeferredError('Luma asked to wait', delay);
        },
      };
      await assert.rejects(processMessage(deps, message, new AbortController().signal), SyncDeferredError);
      assert.deepEqual(calls, [`ChangeMessageVisibilityCommand r-5 ${expected}`]);
      assert.deepEqual(failures, [{ messageId: 'm-5', kind: 'sync_deferred', permanent: false, acknowledged: false }]);
    }
  });

  it("gives a refused message back once the holder's lease would run out, bounded by the visibility timeout, after stopping its heartbeat", async () => {
    // [the holder's remaining lease (ms), or undefined when its claim was already gone; the delay given]
    for (const [remainingMs, expected] of [
      [20_000, 21], // a second past the lease, so the retry finds the claim free if the holder died
      [250, 2],
      [0, 1],
      [undefined, 1],
      [3_600_000, 120], // never longer than the visibility timeout it would otherwise wait
    ] as const) {
      const { sqs, calls } = sqsRecording();
      const failures: FailureInfo[] = [];
      const message: Message = { MessageId: 'm-6', ReceiptHandle: 'r-6', Body: validMessageBody };
      const deps: ProcessDeps = {
        ...depsFor('ok', failures),
        sqs,
        maxRefusalDelaySeconds: 120,
        sync: async () => {
          throw new EventSyncRunningError('e', 'other:1', new Date(), remainingMs);
        },
      };
      await assert.rejects(
        processMessage(deps, message, new AbortController().signal, () => {
          calls.push('hold stopped');
        }),
        EventSyncRunningError,
      );
      assert.deepEqual(calls, ['hold stopped', `ChangeMessageVisibilityCommand r-6 ${expected}`], `${remainingMs} ms`);
      assert.deepEqual(failures, [
        { messageId: 'm-6', kind: 'event_sync_running', permanent: false, acknowledged: false },
      ]);
    }
  });

  it('backs a message refused again off, doubling from the visibility timeout, so a long-running holder does not send it to the DLQ within a few leases', async () => {
    // [the message's receive count, the delay given]: the first refusal comes back just after
    // the holder's lease (a dead holder is replaced at once); a holder that was still alive
    // then is a long sync, and each receive brings the message nearer to maxReceiveCount.
    for (const [receiveCount, expected] of [
      [1, 21],
      [2, 120],
      [3, 240],
      [4, 480],
      [12, 43_200], // never past SQS's 12-hour maximum
    ] as const) {
      const { sqs, calls } = sqsRecording();
      const message: Message = {
        MessageId: 'm-7',
        ReceiptHandle: 'r-7',
        Body: validMessageBody,
        Attributes: { ApproximateReceiveCount: String(receiveCount) },
      };
      const deps: ProcessDeps = {
        ...depsFor('ok', []),
        sqs,
        maxRefusalDelaySeconds: 120,
        sync: async () => {
          throw new EventSyncRunningError('e', 'other:1', new Date(), 20_000);
        },
      };
      await assert.rejects(processMessage(deps, message, new AbortController().signal), EventSyncRunningError);
      assert.deepEqual(calls, [`ChangeMessageVisibilityCommand r-7 ${expected}`], `receive ${receiveCount}`);
    }
  });
});

const validMessageBody = JSON.stringify({
  eventUid: 'e',
  externalEventId: 'x',
  locationUid: 'l',
  providerType: 'LUMA',
});
