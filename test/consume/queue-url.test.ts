import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveQueueUrl } from '../../src/consume/queue-url.ts';
import { countCommands, createFifoQueue, createTestSqs } from '../support/sqs-queue.ts';

const sqs = createTestSqs();
const calls = countCommands(sqs);

describe('resolveQueueUrl', () => {
  it('uses the configured URL without asking SQS', async () => {
    const before = calls.get('GetQueueUrlCommand') ?? 0;
    const url = 'https://sqs.us-east-1.amazonaws.com/123456789012/pl-event-guest-sync.fifo';
    assert.equal(await resolveQueueUrl(sqs, { name: 'ignored', url }), url);
    assert.equal(calls.get('GetQueueUrlCommand') ?? 0, before);
  });

  it('looks the name up with ".fifo" appended when it is missing', async () => {
    const queue = await createFifoQueue(sqs, { label: 'lookup' });
    const bare = queue.name.replace(/\.fifo$/, '');
    assert.equal(await resolveQueueUrl(sqs, { name: bare, url: '' }), queue.url);
    assert.equal(await resolveQueueUrl(sqs, { name: queue.name, url: '' }), queue.url);
  });

  it('fails with the name it looked for when the queue does not exist', async () => {
    await assert.rejects(
      resolveQueueUrl(sqs, { name: 'no-such-queue-here', url: '' }),
      /SQS queue "no-such-queue-here\.fifo" does not exist: create it as a FIFO queue, or set PL_EVENT_GUEST_SYNC_QUEUE_URL/,
    );
  });
});
