/**
 * What enqueueEventPages does around failures, against a scripted SQS client: which
 * entries it retries, what it logs (the events an operator must look at), what it throws,
 * and that it closes its page source whatever happens. The round trips to a real queue are
 * enqueue.test.ts's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type {
  SendMessageBatchCommand,
  SendMessageBatchCommandOutput,
  SendMessageBatchRequestEntry,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SyncableEvent } from '../../src/schedule/discover.ts';
import { enqueueEventPages, enqueueEvents } from '../../src/schedule/enqueue.ts';
import { captureLogs } from '../providers/support.ts';

const SLOT = new Date('2031-06-01T03:00:00.000Z');
const event = (uid: string): SyncableEvent => ({
  eventUid: uid,
  externalEventId: `luma-${uid}`,
  locationUid: 'loc-1',
  providerType: 'LUMA',
});

type Answer = Partial<SendMessageBatchCommandOutput> | Error;
/** An SQS client answering the n-th SendMessageBatch with answers[n] (a function of its entries). */
function scriptedSqs(...answers: Array<(entries: SendMessageBatchRequestEntry[]) => Answer>) {
  const calls: SendMessageBatchRequestEntry[][] = [];
  const sqs = {
    async send(command: SendMessageBatchCommand) {
      const entries = command.input.Entries ?? [];
      calls.push(entries);
      const answer = answers[Math.min(calls.length - 1, answers.length - 1)]!(entries);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return { sqs: sqs as unknown as SQSClient, calls };
}
const allSent = (entries: SendMessageBatchRequestEntry[]): Answer => ({
  Successful: entries.map((e) => ({ Id: e.Id!, MessageId: 'm', MD5OfMessageBody: '' })),
  Failed: [],
});
/** Fails the entries of `uids` (by their message group), sends the rest. */
const failing =
  (uids: string[], senderFault: boolean) =>
  (entries: SendMessageBatchRequestEntry[]): Answer => ({
    Successful: entries
      .filter((e) => !uids.includes(e.MessageGroupId!))
      .map((e) => ({ Id: e.Id!, MessageId: 'm', MD5OfMessageBody: '' })),
    Failed: entries
      .filter((e) => uids.includes(e.MessageGroupId!))
      .map((e) => ({
        Id: e.Id!,
        SenderFault: senderFault,
        Code: senderFault ? 'InvalidParameter' : 'Busy',
        Message: 'no',
      })),
  });

const retry = { attempts: 3, baseDelayMs: 1 };

describe('enqueueEventPages on failures', () => {
  it('logs the events SQS refused as the sender’s fault at once, by event, code and message, and retries the others', async () => {
    const { log, entries } = captureLogs();
    // 'bad' is refused as the sender's fault (not retried), 'busy' fails once and is retried.
    const refusing = scriptedSqs((batch) => {
      const answer = failing(['busy'], false)(batch) as SendMessageBatchCommandOutput;
      const bad = batch.find((e) => e.MessageGroupId === 'bad');
      if (bad) {
        answer.Successful = answer.Successful?.filter((s) => s.Id !== bad.Id);
        answer.Failed = [
          ...(answer.Failed ?? []),
          { Id: bad.Id!, SenderFault: true, Code: 'InvalidParameter', Message: 'too long' },
        ];
      }
      return answer;
    }, allSent);
    const report = await enqueueEvents(
      { sqs: refusing.sqs, queueUrl: 'q', log, retry },
      ['ok', 'bad', 'busy'].map(event),
      SLOT,
    );
    assert.deepEqual(report, { enqueued: 2, failed: 1, calls: 2 });
    assert.deepEqual(
      refusing.calls.map((batch) => batch.map((e) => e.MessageGroupId)),
      [['ok', 'bad', 'busy'], ['busy']],
    );
    const lines = entries().map(({ level, msg, failures, failed, attempt }) => ({
      level,
      msg,
      failures,
      failed,
      attempt,
    }));
    assert.deepEqual(lines, [
      {
        level: 50,
        msg: 'enqueue entries rejected',
        failures: [{ eventUid: 'bad', code: 'InvalidParameter', message: 'too long' }],
        failed: undefined,
        attempt: undefined,
      },
      { level: 40, msg: 'some enqueue entries failed; retrying them', failures: undefined, failed: 1, attempt: 1 },
    ]);
  });

  it('after the last attempt, reports and logs the entries still failing, naming only those SQS did not blame on the sender', async () => {
    const { log, entries } = captureLogs();
    // 'late' fails twice as busy, then is refused as the sender's fault on the last attempt.
    const { sqs, calls } = scriptedSqs(failing(['busy', 'late'], false), failing(['busy', 'late'], false), (batch) => {
      const answer = failing(['busy'], false)(batch) as { Successful?: unknown[]; Failed?: unknown[] };
      const late = batch.find((e) => e.MessageGroupId === 'late')!;
      answer.Successful = (answer.Successful as Array<{ Id: string }>).filter((s) => s.Id !== late.Id);
      answer.Failed = [...(answer.Failed ?? []), { Id: late.Id, SenderFault: true, Code: 'Gone', Message: 'x' }];
      return answer as never;
    });
    const report = await enqueueEvents({ sqs, queueUrl: 'q', log, retry }, ['ok', 'busy', 'late'].map(event), SLOT);
    assert.deepEqual(report, { enqueued: 1, failed: 2, calls: 3 });
    assert.equal(calls.length, 3);
    const lines = entries().map(({ msg, failures, attempt }) => ({ msg, failures, attempt }));
    assert.deepEqual(lines, [
      { msg: 'some enqueue entries failed; retrying them', failures: undefined, attempt: 1 },
      { msg: 'some enqueue entries failed; retrying them', failures: undefined, attempt: 2 },
      {
        msg: 'enqueue entries rejected',
        failures: [{ eventUid: 'late', code: 'Gone', message: 'x' }],
        attempt: undefined,
      },
      {
        msg: 'enqueue entries failed after retries',
        failures: [{ eventUid: 'busy', code: 'Busy', message: 'no' }],
        attempt: undefined,
      },
    ]);
  });

  it('counts an answer that lists no successes, and logs nothing when all went well', async () => {
    const { log, entries } = captureLogs();
    const { sqs } = scriptedSqs((batch) => ({
      Failed: batch.map((e) => ({ Id: e.Id!, SenderFault: true, Code: 'X' })),
    }));
    assert.deepEqual(await enqueueEvents({ sqs, queueUrl: 'q', log, retry }, [event('a')], SLOT), {
      enqueued: 0,
      failed: 1,
      calls: 1,
    });
    const quiet = captureLogs();
    await enqueueEvents({ sqs: scriptedSqs(allSent).sqs, queueUrl: 'q', log: quiet.log, retry }, [event('a')], SLOT);
    assert.deepEqual(quiet.entries(), []);
    assert.equal(entries().length, 1);
  });

  it('retries a call that threw, with a warning, and waits longer before each retry', async () => {
    const { log, entries } = captureLogs();
    const { sqs, calls } = scriptedSqs(
      () => Object.assign(new Error('socket hang up'), { $fault: 'server' }),
      () => Object.assign(new Error('socket hang up'), { $fault: 'server' }),
      allSent,
    );
    const waits: number[] = [];
    const report = await enqueueEvents(
      { sqs, queueUrl: 'q', log, retry: { attempts: 3, baseDelayMs: 150 }, sleep: async (ms) => waits.push(ms) },
      [event('a'), event('b')],
      SLOT,
    );
    // None before the first call, 150 ms before the second, 300 before the third.
    assert.deepEqual(waits, [150, 300]);
    assert.deepEqual(report, { enqueued: 2, failed: 0, calls: 3 });
    assert.equal(calls.length, 3);
    assert.deepEqual(
      entries().map(({ msg, attempt, entries }) => ({ msg, attempt, entries })),
      [
        { msg: 'SendMessageBatch failed; retrying', attempt: 1, entries: 2 },
        { msg: 'SendMessageBatch failed; retrying', attempt: 2, entries: 2 },
      ],
    );
  });

  it('throws a call failing on every attempt with the SDK’s error as its cause, and closes its page source', async () => {
    const sdk = Object.assign(new Error('no such queue'), { $fault: 'client' });
    const { sqs } = scriptedSqs(() => sdk);
    let closed = false;
    async function* pages() {
      try {
        yield [event('a')];
        yield [event('b')];
      } finally {
        closed = true;
      }
    }
    const err = await enqueueEventPages({ sqs, queueUrl: 'q', retry, concurrency: 1 }, pages(), SLOT).then(
      () => assert.fail('expected a throw'),
      (e: Error) => e,
    );
    assert.match(err.message, /SendMessageBatch failed after 1 attempt/);
    assert.equal(err.cause, sdk);
    assert.equal(closed, true);
  });

  it('tells onPage each page’s size as it reads it', async () => {
    async function* pages() {
      yield [event('a'), event('b'), event('c')];
      yield [event('d')];
    }
    const sizes: number[] = [];
    const { sqs } = scriptedSqs(allSent);
    await enqueueEventPages({ sqs, queueUrl: 'q', retry }, pages(), SLOT, { onPage: (n) => sizes.push(n) });
    assert.deepEqual(sizes, [3, 1]);
  });
});
