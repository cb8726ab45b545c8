import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { CreateQueueCommand, type Message } from '@aws-sdk/client-sqs';
import { excerpt } from '../../src/consume/message.ts';
import { dropPoison } from '../../src/consume/poison.ts';
import { PermanentError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { captureLogger, countCommands, createFifoQueue, createTestSqs, receiveAll } from '../support/sqs-queue.ts';

const sqs = createTestSqs();
const message: Message = { MessageId: 'm-1', Body: '{"eventUid":"ev-1"}' };
const context = { messageId: 'm-1', receiveCount: 1, groupId: 'ev-1' };
const error = new PermanentError('bad_message', 'eventUid is not a directory event');

describe('dropPoison', () => {
  it('copies a message to a standard poison queue without the FIFO-only fields, which real SQS refuses there', async () => {
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: `poison-standard-${randomBytes(4).toString('hex')}` }),
    );
    const sent: Array<Record<string, unknown>> = [];
    // Real SQS rejects MessageDeduplicationId on a standard queue; the test server may not, so
    // the request is checked too.
    sqs.middlewareStack.add(
      (next) => async (args) => {
        sent.push(args.input as Record<string, unknown>);
        return next(args);
      },
      { step: 'initialize', name: 'recordPoisonSends' },
    );
    try {
      const copied = await dropPoison({ sqs, log: silentLogger, poisonQueueUrl: QueueUrl }, message, error, context);

      assert.equal(copied, true);
      assert.equal(sent.length, 1);
      assert.equal(sent[0]?.MessageGroupId, undefined);
      assert.equal(sent[0]?.MessageDeduplicationId, undefined);
      const [copy] = await receiveAll(sqs, QueueUrl!, { messageAttributes: true });
      assert.equal(copy?.Body, message.Body);
      assert.equal(copy?.MessageAttributes?.errorKind?.StringValue, 'bad_message');
    } finally {
      sqs.middlewareStack.remove('recordPoisonSends');
    }
  });

  it('copies a message to a FIFO poison queue deduplicated by the message id', async () => {
    const poison = await createFifoQueue(sqs, { label: 'poison-fifo' });

    const copied = await dropPoison({ sqs, log: silentLogger, poisonQueueUrl: poison.url }, message, error, context);
    // SQS redelivered the same message: its copy is deduplicated.
    await dropPoison({ sqs, log: silentLogger, poisonQueueUrl: poison.url }, message, error, context);

    assert.equal(copied, true);
    const copies = await receiveAll(sqs, poison.url);
    assert.deepEqual(
      copies.map((c) => c.Body),
      [message.Body],
    );
  });

  it('copies a message without a body or a group: "(empty body)" in the "poison" group, its reason cut to 1000 characters', async () => {
    const poison = await createFifoQueue(sqs, { label: 'poison-bare' });
    const long = new PermanentError('bad_message', 'r'.repeat(1500));

    const copied = await dropPoison(
      { sqs, log: silentLogger, poisonQueueUrl: poison.url },
      { MessageId: 'm-bare' },
      long,
      { messageId: 'm-bare', receiveCount: 1, groupId: undefined },
    );

    assert.equal(copied, true);
    const [copy] = await receiveAll(sqs, poison.url, { messageAttributes: true });
    assert.equal(copy?.Body, '(empty body)');
    assert.equal(copy?.Attributes?.MessageGroupId, 'poison');
    assert.deepEqual(copy?.MessageAttributes?.errorKind, { DataType: 'String', StringValue: 'bad_message' });
    assert.equal(copy?.MessageAttributes?.errorReason?.DataType, 'String');
    assert.equal(copy?.MessageAttributes?.errorReason?.StringValue, 'r'.repeat(1000));
  });

  it('logs a copy that failed with the message’s context, kind and reason, and keeps the message', async () => {
    const { log, lines } = captureLogger();
    const missing = `${(await createFifoQueue(sqs, { label: 'poison-gone' })).url.replace(/\.fifo$/, '')}-missing.fifo`;

    const copied = await dropPoison({ sqs, log, poisonQueueUrl: missing }, message, error, context);

    assert.equal(copied, false);
    const line = lines.find(
      (l) => l.msg === 'could not copy a failed message to the poison queue: left for redelivery',
    );
    assert.equal(line?.messageId, 'm-1');
    assert.equal(line?.groupId, 'ev-1');
    assert.equal(line?.kind, 'bad_message');
    assert.equal(line?.reason, error.message);
    assert.ok(line?.err, 'the copy’s own error');
  });

  it('without a poison queue sends nothing and drops the message: nothing to keep it for', async () => {
    const sent = countCommands(sqs);
    const { log, lines } = captureLogger();

    const copied = await dropPoison({ sqs, log }, message, error, context);

    assert.equal(copied, true);
    assert.equal(sent.get('SendMessageCommand') ?? 0, 0);
    assert.equal(lines.filter((l) => l.msg === 'message can never succeed: dropped').length, 1);
  });

  it('logs a dropped message with its context, kind, reason, a bounded excerpt of its body and the poison queue', async () => {
    const poison = await createFifoQueue(sqs, { label: 'poison-logged' });
    const { log, lines } = captureLogger();
    const long: Message = { MessageId: 'm-long', Body: `{"eventUid":"${'x'.repeat(500)}"}` };

    await dropPoison({ sqs, log, poisonQueueUrl: poison.url }, long, error, { ...context, messageId: 'm-long' });

    const line = lines.find((l) => l.msg === 'message can never succeed: dropped');
    assert.equal(line?.messageId, 'm-long');
    assert.equal(line?.receiveCount, 1);
    assert.equal(line?.groupId, 'ev-1');
    assert.equal(line?.kind, 'bad_message');
    assert.equal(line?.reason, error.message);
    assert.equal(line?.body, excerpt(long.Body));
    assert.ok(String(line?.body).length < long.Body!.length, 'an excerpt, not the whole body');
    assert.equal(line?.poisonQueueUrl, poison.url);
  });
});
