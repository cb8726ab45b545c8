import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveQueueUrl } from '../../src/consume/queue-url.ts';
import { countCommands, createFifoQueue, createTestSqs } from '../support/sqs-queue.ts';

const sqs = createTestSqs();
const calls = countCommands(sqs);

describe('resolveQueueUrl', () => {
  it('uses the configured URL without looking a name up, once SQS confirms the queue exists', async () => {
    const queue = await createFifoQueue(sqs, { label: 'configured' });
    const before = calls.get('GetQueueUrlCommand') ?? 0;
    assert.equal(await resolveQueueUrl(sqs, { name: 'ignored', url: queue.url }), queue.url);
    assert.equal(calls.get('GetQueueUrlCommand') ?? 0, before);
  });

  it('fails, saying what to do, when the configured URL names no queue', async () => {
    const url = (await createFifoQueue(sqs, { label: 'configured' })).url.replace(/\.fifo$/, '-gone.fifo');
    await assert.rejects(
      resolveQueueUrl(sqs, { name: 'ignored', url }),
      new RegExp(
        `SQS queue ${url.replace(/[.?]/g, '\\$&')} does not exist: create it as a FIFO queue, or correct PL_EVENT_GUEST_SYNC_QUEUE_URL`,
      ),
    );
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
