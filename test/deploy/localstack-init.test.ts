/**
 * deploy/localstack-init.sh, the LocalStack ready hook compose.yaml mounts: run against a
 * stand-in awslocal that records its calls, then the queues it describes are created on
 * the test SQS server.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { createTestSqs } from '../support/sqs-queue.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('deploy/localstack-init.sh', () => {
  const sqs = createTestSqs();

  it('creates a FIFO DLQ, then the FIFO queue whose redrive policy points at it after 5 receives', async () => {
    const script = path.join(ROOT, 'deploy/localstack-init.sh');
    execFileSync('bash', ['-n', script]);

    // A stand-in awslocal that records each call and answers as LocalStack would.
    const bin = mkdtempSync(path.join(os.tmpdir(), 'lgs-awslocal-'));
    after(() => rmSync(bin, { recursive: true, force: true }));
    const calls = path.join(bin, 'calls.jsonl');
    writeFileSync(
      path.join(bin, 'awslocal.mjs'),
      `import { appendFileSync } from 'node:fs';
const args = process.argv.slice(2);
appendFileSync(process.env.LGS_CALLS, JSON.stringify(args) + '\\n');
const opt = (name) => args[args.indexOf(name) + 1];
const base = 'http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/';
if (args[1] === 'create-queue') console.log(JSON.stringify({ QueueUrl: base + opt('--queue-name') }));
if (args[1] === 'get-queue-url') console.log(base + opt('--queue-name'));
if (args[1] === 'get-queue-attributes') console.log('arn:aws:sqs:us-east-1:000000000000:' + opt('--queue-url').split('/').pop());
`,
    );
    writeFileSync(
      path.join(bin, 'awslocal'),
      `#!/bin/sh\nexec "$LGS_NODE" "${path.join(bin, 'awslocal.mjs')}" "$@"\n`,
      {
        mode: 0o755,
      },
    );
    const out = execFileSync('bash', [script], {
      env: { PATH: `${bin}:${process.env.PATH}`, LGS_CALLS: calls, LGS_NODE: process.execPath },
      encoding: 'utf8',
    });
    assert.match(out, /created pl-event-guest-sync\.fifo/);

    const recorded = readFileSync(calls, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as string[]);
    const creates = recorded
      .filter((args) => args[0] === 'sqs' && args[1] === 'create-queue')
      .map((args) => ({
        name: args[args.indexOf('--queue-name') + 1]!,
        attributes: JSON.parse(args[args.indexOf('--attributes') + 1]!) as Record<string, string>,
      }));
    assert.deepEqual(
      creates.map((c) => c.name),
      ['pl-event-guest-sync-dlq.fifo', 'pl-event-guest-sync.fifo'],
      'the DLQ first, so its ARN exists for the redrive policy',
    );
    const [dlq, main] = creates as [(typeof creates)[0], (typeof creates)[0]];
    assert.equal(dlq.attributes.FifoQueue, 'true', 'a FIFO queue needs a FIFO DLQ');
    assert.equal(main.attributes.FifoQueue, 'true');
    assert.equal(main.attributes.ContentBasedDeduplication, 'false');
    assert.equal(main.attributes.VisibilityTimeout, '120');
    const redrive = JSON.parse(main.attributes.RedrivePolicy!) as {
      deadLetterTargetArn: string;
      maxReceiveCount: string;
    };
    assert.equal(redrive.deadLetterTargetArn, 'arn:aws:sqs:us-east-1:000000000000:pl-event-guest-sync-dlq.fifo');
    assert.equal(Number(redrive.maxReceiveCount), 5);

    // The same attributes, sent to a real SQS-compatible server, make the queues they describe.
    const suffix = randomBytes(4).toString('hex');
    const rename = (name: string) => name.replace('pl-event-guest-sync', `lgs-init-${suffix}`);
    const { QueueUrl: dlqUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: rename(dlq.name), Attributes: dlq.attributes }),
    );
    const { Attributes: dlqAttributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
    );
    const policy = JSON.stringify({ ...redrive, deadLetterTargetArn: dlqAttributes!.QueueArn });
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({
        QueueName: rename(main.name),
        Attributes: { ...main.attributes, RedrivePolicy: policy },
      }),
    );
    const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
    assert.equal(Attributes.FifoQueue, 'true');
    assert.equal(Attributes.VisibilityTimeout, '120');
    assert.equal(JSON.parse(Attributes.RedrivePolicy!).deadLetterTargetArn, dlqAttributes!.QueueArn);
  });
});
