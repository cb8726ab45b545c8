import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import fc from 'fast-check';
import type { FailureInfo } from '../../src/consume/consumer.ts';
import { type ProcessDeps, processMessage } from '../../src/consume/process-message.ts';
import { PermanentError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { EventSyncRunningError } from '../../src/sync/event-lock.ts';
import type { SyncMessage, SyncResult } from '../../src/sync/types.ts';

const resultOf = (m: SyncMessage): SyncResult => ({
  eventUid: m.eventUid,
  providerType: m.providerType,
  pages: 1,
  fetched: 0,
  matched: 0,
  created: 0,
  skipped: 0,
  removed: 0,
  dryRun: false,
  durationMs: 1,
});

/** The sync's possible endings: success, a retryable error, a permanent one, a worker-level one. */
const outcomes = ['ok', 'retryable', 'permanent', 'worker'] as const;

function depsFor(outcome: (typeof outcomes)[number], failures: FailureInfo[]): ProcessDeps {
  return {
    sqs: { send: async () => ({}) } as unknown as SQSClient,
    log: silentLogger,
    retryKinds: new Set(['luma_auth']),
    onFailure: (_err, info) => failures.push(info),
    sync: async (m) => {
      if (outcome === 'retryable') throw new Error('database down');
      if (outcome === 'permanent') throw new PermanentError('event_not_found', 'gone');
      if (outcome === 'worker') throw new PermanentError('luma_auth', 'key rejected');
      return resultOf(m);
    },
  };
}

const validBody = fc
  .record({
    eventUid: fc.string({ minLength: 1, maxLength: 40 }),
    externalEventId: fc.string({ minLength: 1, maxLength: 40 }),
    locationUid: fc.string({ minLength: 1, maxLength: 40 }),
    providerType: fc.constantFrom('LUMA', 'EVENTBRITE'),
  })
  .map((m) => JSON.stringify(m));
const anyBody = fc.oneof(fc.string(), fc.json(), validBody, fc.constant(undefined));

describe('processMessage, on arbitrary bodies and sync outcomes', () => {
  it('either acknowledges or leaves the message, reporting every failure with one of the documented kinds', async () => {
    await fc.assert(
      fc.asyncProperty(anyBody, fc.constantFrom(...outcomes), async (body, outcome) => {
        const failures: FailureInfo[] = [];
        const message: Message = { MessageId: 'm-1', ReceiptHandle: 'r-1', Body: body };
        const settled = await processMessage(depsFor(outcome, failures), message, new AbortController().signal).then(
          (acked) => ({ acked }),
          (err: unknown) => ({ err }),
        );
        if ('acked' in settled) {
          // Acknowledged: either a success (no failure reported) or a dropped permanent failure.
          assert.equal(settled.acked, message);
          assert.ok(failures.length === 0 || (failures[0]?.permanent && failures[0].acknowledged));
        } else {
          // Left for redelivery: reported as not acknowledged, and never a message-level permanent error.
          assert.equal(failures.length, 1);
          assert.equal(failures[0]?.acknowledged, false);
          assert.ok(!failures[0]?.permanent || failures[0].kind === 'luma_auth');
        }
        for (const f of failures) {
          assert.match(f.kind, /^(bad_message|unknown_provider|event_not_found|luma_auth|unexpected)$/);
        }
      }),
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
});
