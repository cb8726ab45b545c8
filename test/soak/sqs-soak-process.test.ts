import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  ChangeMessageVisibilityCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { createFifoQueueWithDlq } from '../../src/local/local-queue.ts';
import { type SoakSqs, startSoakSqs } from './servers.ts';

/**
 * The soak's SQS server (fauxqs in a process, its queues on disk) must keep SQS's rules
 * across what the soak does to it, or the soak blames the worker for the server: a message
 * made visible again (ChangeMessageVisibility 0, as a worker does when its sync is aborted
 * at shutdown) is received again at once and its FIFO group is free — before and after the
 * server restarts with that message in flight. fauxqs 2.4.1 with a data folder lost the
 * message and locked its group for good (the 10-minute soak's missing re-sync of soak-big).
 */
let dir: string;
let server: SoakSqs;
let sqs: SQSClient;
let queueUrl: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lgs-soak-sqs-'));
  server = await startSoakSqs(dir);
  sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: server.endpoint,
    credentials: { accessKeyId: 'soak', secretAccessKey: 'soak' },
    // One attempt: a server error must show as itself, not as the retry's answer.
    maxAttempts: 1,
  });
  ({ queueUrl } = await createFifoQueueWithDlq(sqs, 'soak-sqs-test', { visibilityTimeoutSeconds: 300 }));
});

after(async () => {
  sqs.destroy();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

const send = (group: string, body: string) =>
  sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: body,
      MessageGroupId: group,
      MessageDeduplicationId: body,
    }),
  );
const receive = async (): Promise<Message[]> =>
  (
    await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 1,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    )
  ).Messages ?? [];
const makeVisible = (message: Message) =>
  sqs.send(
    new ChangeMessageVisibilityCommand({
      QueueUrl: queueUrl,
      ReceiptHandle: message.ReceiptHandle,
      VisibilityTimeout: 0,
    }),
  );

test('a message made visible again is received again at once, its group free', async () => {
  await send('group-a', 'a-1');
  await send('group-a', 'a-2');
  const [first] = await receive();
  assert.equal(first?.Body, 'a-1');
  await makeVisible(first!);
  const [again] = await receive();
  assert.equal(again?.Body, 'a-1', 'the released message comes back first, in its group order');
  assert.equal(again?.Attributes?.ApproximateReceiveCount, '2');
});

test('after the server restarts, a message received before it can be extended and made visible again', async () => {
  await send('group-b', 'b-1');
  const [held] = await receive();
  assert.equal(held?.Body, 'b-1');
  await server.restart();
  // The heartbeat's extension with the receipt from before the restart, then the release.
  await sqs.send(
    new ChangeMessageVisibilityCommand({
      QueueUrl: queueUrl,
      ReceiptHandle: held!.ReceiptHandle,
      VisibilityTimeout: 300,
    }),
  );
  await makeVisible(held!);
  const received = await receive();
  assert.deepEqual(
    received.map((m) => m.Body),
    ['b-1'],
    'the message is received again at once (not lost, its group not locked)',
  );
});
