/**
 * withAbortableReceives: abort() ends the open receives, and only them, whatever signal
 * the caller passed; every other call goes through as it was.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { withAbortableReceives } from '../../src/consume/abortable-receives.ts';

function recordingSqs() {
  const calls: Array<{ command: unknown; options?: { abortSignal?: AbortSignal; other?: string } }> = [];
  const sqs = {
    config: { region: 'here' },
    send: async (command: unknown, options?: { abortSignal?: AbortSignal }) => {
      calls.push({ command, options });
      return { answered: command };
    },
  } as unknown as SQSClient;
  return { sqs, calls };
}

describe('withAbortableReceives', () => {
  it('aborts a receive’s signal on abort(), with the reason given, keeping its other options', async () => {
    const { sqs, calls } = recordingSqs();
    const receives = withAbortableReceives(sqs);
    const receive = new ReceiveMessageCommand({ QueueUrl: 'q' });
    const answer = await receives.client.send(receive, { other: 'kept' } as never);
    assert.deepEqual(answer, { answered: receive });
    const signal = calls[0]?.options?.abortSignal;
    assert.ok(signal instanceof AbortSignal);
    assert.equal(calls[0]?.options?.other, 'kept');
    assert.equal(signal.aborted, false);
    const reason = new Error('consumer stopped polling');
    receives.abort(reason);
    assert.equal(signal.aborted, true);
    assert.equal(signal.reason, reason);
  });

  it('aborts a receive sent without options too', async () => {
    const { sqs, calls } = recordingSqs();
    const receives = withAbortableReceives(sqs);
    await receives.client.send(new ReceiveMessageCommand({ QueueUrl: 'q' }));
    receives.abort(new Error('stopped'));
    assert.equal(calls[0]?.options?.abortSignal?.aborted, true);
  });

  it('still honours the caller’s own signal on a receive', async () => {
    const { sqs, calls } = recordingSqs();
    const receives = withAbortableReceives(sqs);
    const caller = new AbortController();
    await receives.client.send(new ReceiveMessageCommand({ QueueUrl: 'q' }), { abortSignal: caller.signal });
    const signal = calls[0]?.options?.abortSignal;
    assert.notEqual(signal, caller.signal, 'combined with ours');
    caller.abort(new Error('caller gave up'));
    assert.equal(signal?.aborted, true);
  });

  it('leaves every other call alone: a delete keeps the caller’s options and is not aborted', async () => {
    const { sqs, calls } = recordingSqs();
    const receives = withAbortableReceives(sqs);
    const caller = new AbortController();
    const del = new DeleteMessageCommand({ QueueUrl: 'q', ReceiptHandle: 'r' });
    const answer = await receives.client.send(del, { abortSignal: caller.signal });
    assert.deepEqual(answer, { answered: del });
    receives.abort(new Error('stopped'));
    assert.equal(calls[0]?.command, del);
    assert.equal(calls[0]?.options?.abortSignal, caller.signal, 'the caller’s own signal, untouched');
    assert.equal(caller.signal.aborted, false);
    await receives.client.send(new DeleteMessageCommand({ QueueUrl: 'q', ReceiptHandle: 'r' }));
    assert.equal(calls[1]?.options, undefined);
  });

  it('passes everything but send through to the client', () => {
    const { sqs } = recordingSqs();
    const { client } = withAbortableReceives(sqs);
    assert.equal(client.config, sqs.config);
  });
});
