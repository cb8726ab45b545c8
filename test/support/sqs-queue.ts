import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after } from 'node:test';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import pino from 'pino';
import type { Logger } from '../../src/log.ts';
import { testEnv } from './env.ts';
import { connectUpstream } from './tcp-relay.ts';

/** An SQS client for the test server (fauxqs on 127.0.0.1), destroyed after the file. */
export function createTestSqs(): SQSClient {
  const sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: testEnv('sqsEndpoint'),
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  after(() => sqs.destroy());
  return sqs;
}

/**
 * An SQS client whose requests pass through a loopback relay that counts the
 * ReceiveMessage requests it has handed to the server: "a long poll is open" becomes an
 * observable event instead of a guess after a sleep. Closed after the file, or by `close()`:
 * every relayed connection is destroyed first, since the relay's close() alone would wait
 * for any connection still open through it, such as one the client's destroy() does not
 * own (test/support/teardown.test.ts).
 */
export async function createWatchedSqs(): Promise<{
  sqs: SQSClient;
  receivesForwarded: () => number;
  close: () => Promise<void>;
}> {
  const target = new URL(testEnv('sqsEndpoint'));
  const sockets = new Set<Socket>();
  let receives = 0;
  const relay = createServer((client) => {
    const upstream = connectUpstream(client, { host: target.hostname, port: Number(target.port) }, sockets);
    client.on('data', (chunk: Buffer) => {
      // Counted once the bytes are written towards the server, not when the client sends them.
      const found = chunk.toString('latin1').split('AmazonSQS.ReceiveMessage').length - 1;
      upstream.write(chunk, () => {
        receives += found;
      });
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const { port } = relay.address() as { port: number };
  const sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const close = async () => {
    sqs.destroy();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => relay.close(() => resolve()));
  };
  after(close);
  return { sqs, receivesForwarded: () => receives, close };
}

/**
 * A FIFO queue of its own for one test, with a FIFO dead-letter queue when
 * maxReceiveCount is given (AWS requires a FIFO DLQ for a FIFO queue).
 */
export async function createFifoQueue(
  sqs: SQSClient,
  options: { label?: string; visibilityTimeout?: number; maxReceiveCount?: number } = {},
): Promise<{ url: string; name: string; dlqUrl?: string }> {
  const name = `${(options.label ?? 'q').replace(/[^\w-]/g, '-')}-${randomBytes(4).toString('hex')}.fifo`;
  const attributes: Record<string, string> = { FifoQueue: 'true' };
  if (options.visibilityTimeout !== undefined) attributes.VisibilityTimeout = String(options.visibilityTimeout);
  let dlqUrl: string | undefined;
  if (options.maxReceiveCount !== undefined) {
    const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `dlq-${name}`, Attributes: { FifoQueue: 'true' } }));
    dlqUrl = dlq.QueueUrl!;
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
    );
    attributes.RedrivePolicy = JSON.stringify({
      deadLetterTargetArn: Attributes!.QueueArn,
      maxReceiveCount: options.maxReceiveCount,
    });
  }
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  return { url: QueueUrl!, name, dlqUrl };
}

/**
 * Receives until the queue hands out nothing more, hiding what it receives for
 * `visibilityTimeout` seconds. fauxqs returns at most one message per group per call,
 * hence the loop.
 */
export async function receiveAll(
  sqs: SQSClient,
  queueUrl: string,
  options: { visibilityTimeout?: number; messageAttributes?: boolean } = {},
): Promise<Message[]> {
  const all: Message[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: options.visibilityTimeout ?? 30,
        MessageSystemAttributeNames: [
          'ApproximateReceiveCount',
          'MessageGroupId',
          'MessageDeduplicationId',
          'SentTimestamp',
        ],
        MessageAttributeNames: options.messageAttributes ? ['All'] : undefined,
      }),
    );
    if (Messages.length === 0) return all;
    all.push(...Messages);
  }
}

/** Visible and in-flight message counts. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

/** Counts the commands a client sends, by name, through an SDK middleware. */
export function countCommands(sqs: SQSClient): Map<string, number> {
  const counts = new Map<string, number>();
  sqs.middlewareStack.add(
    (next, context) => (args) => {
      const name = String(context.commandName);
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: `count-${randomBytes(4).toString('hex')}` },
  );
  return counts;
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A real pino logger whose lines are kept in memory for assertions. */
export function captureLogger(level = 'debug'): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      for (const text of String(chunk).split('\n')) if (text) lines.push(JSON.parse(text));
      callback();
    },
  });
  return { log: pino({ level }, stream), lines };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
