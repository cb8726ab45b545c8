/**
 * What the worker says about an SQS failure (queueProblem, for logs and /readyz) and how
 * resolveQueueUrl fails, for each kind of failure the SDK and sqs-consumer produce: with
 * SQS replaced by a function that throws the error under test. queue-url.test.ts covers
 * the same against a real SQS server.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { queueProblem, resolveQueueUrl } from '../../src/consume/queue-url.ts';

const URL = 'https://sqs.eu-west-1.amazonaws.com/1/sync.fifo';
const sdkError = (name: string, extra: object = {}) => Object.assign(new Error(`${name} happened`), { name }, extra);
/** sqs-consumer's wrapper around the SDK's error. */
const wrapped = (cause: unknown) => Object.assign(new Error('SQS receive message failed'), { name: 'SQSError', cause });
const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4566'), { code: 'ECONNREFUSED' });

function failingSqs(err: unknown): SQSClient {
  return {
    send: async () => {
      throw err;
    },
  } as unknown as SQSClient;
}
function answeringSqs(answer: object): SQSClient {
  return { send: async () => answer } as unknown as SQSClient;
}

describe('queueProblem', () => {
  it('calls a missing queue missing, under both protocols’ names, wrapped by sqs-consumer or not', () => {
    for (const err of [
      sdkError('QueueDoesNotExist'),
      sdkError('AWS.SimpleQueueService.NonExistentQueue'),
      wrapped(sdkError('QueueDoesNotExist')),
      Object.assign(new Error('x'), { Code: 'AWS.SimpleQueueService.NonExistentQueue' }),
    ]) {
      assert.match(queueProblem(err, URL), /^SQS queue \S+ does not exist: create it/, String((err as Error).name));
    }
  });

  it('calls each kind of denial a denial, naming the code and the permissions the role needs', () => {
    for (const code of ['AccessDenied', 'AccessDeniedException', 'KMS.AccessDeniedException']) {
      const text = queueProblem(sdkError(code), URL);
      assert.ok(text.startsWith(`SQS denied access to ${URL} (${code})`), text);
      assert.match(text, /sqs:ReceiveMessage/);
    }
  });

  it('calls a failure that never reached SQS unreachable, with its socket code or "timed out"', () => {
    assert.equal(
      queueProblem(refused(), URL),
      `SQS cannot be reached for ${URL} (ECONNREFUSED): check the network, and AWS_ENDPOINT_URL_SQS if set`,
    );
    // The SDK names some network errors by their code.
    assert.match(queueProblem(sdkError('ENOTFOUND'), URL), /cannot be reached .*\(ENOTFOUND\)/);
    assert.match(queueProblem(wrapped(refused()), URL), /cannot be reached .*\(ECONNREFUSED\)/);
    assert.match(queueProblem(sdkError('TimeoutError'), URL), /cannot be reached .*\(timed out\)/);
    // A named SDK error whose socket code is in `code`.
    assert.match(
      queueProblem(sdkError('NetworkingError', { code: 'ECONNRESET' }), URL),
      /cannot be reached .*\(ECONNRESET\)/,
    );
    assert.equal(
      queueProblem(sdkError('NetworkingError', { code: 'XECONNRESET' }), URL),
      `SQS request to ${URL} failed (NetworkingError)`,
    );
    assert.equal(
      queueProblem(sdkError('NetworkingError', { code: 'ECONNRESET2' }), URL),
      `SQS request to ${URL} failed (NetworkingError)`,
    );
  });

  it('names the code of any other failure, and says "error" when there is none', () => {
    assert.equal(queueProblem(sdkError('InvalidSecurity'), URL), `SQS request to ${URL} failed (InvalidSecurity)`);
    assert.equal(queueProblem(new Error('plain'), URL), `SQS request to ${URL} failed (error)`);
    assert.equal(queueProblem(undefined, URL), `SQS request to ${URL} failed (error)`);
    // A code that only looks like a socket code in part is not one.
    assert.equal(
      queueProblem(Object.assign(new Error('x'), { code: 'EPIPE_LIKE1' }), URL),
      `SQS request to ${URL} failed (EPIPE_LIKE1)`,
    );
    assert.equal(queueProblem(sdkError('XECONNRESET'), URL), `SQS request to ${URL} failed (XECONNRESET)`);
    // sqs-consumer's wrapper without a cause is reported as itself.
    assert.equal(
      queueProblem(Object.assign(new Error('x'), { name: 'SQSError' }), URL),
      `SQS request to ${URL} failed (SQSError)`,
    );
  });
});

describe('resolveQueueUrl against failing SQS', () => {
  it('keeps the SDK’s error as the cause of a configured URL’s failure, but not of a network failure', async () => {
    const denied = sdkError('AccessDenied');
    await assert.rejects(resolveQueueUrl(failingSqs(denied), { name: '', url: URL }), (err: Error) => {
      assert.match(err.message, /^SQS denied access to/);
      assert.equal(err.cause, denied);
      return true;
    });
    // A network failure's own text would win over ours in the CLI's explanation.
    await assert.rejects(resolveQueueUrl(failingSqs(refused()), { name: '', url: URL }), (err: Error) => {
      assert.match(err.message, /^SQS cannot be reached for/);
      assert.equal(err.cause, undefined);
      return true;
    });
  });

  it('by name: says SQS cannot be reached, without the network error as its cause', async () => {
    await assert.rejects(resolveQueueUrl(failingSqs(refused()), { name: 'sync', url: '' }), (err: Error) => {
      assert.match(err.message, /SQS cannot be reached to look up queue "sync\.fifo" \(ECONNREFUSED\)/);
      assert.equal(err.cause, undefined);
      return true;
    });
  });

  it('by name: keeps the cause of a missing queue and of any other failure, naming its code', async () => {
    const missing = sdkError('QueueDoesNotExist');
    await assert.rejects(resolveQueueUrl(failingSqs(missing), { name: 'sync', url: '' }), (err: Error) => {
      assert.match(err.message, /SQS queue "sync\.fifo" does not exist/);
      assert.equal(err.cause, missing);
      return true;
    });
    const denied = sdkError('AccessDenied');
    await assert.rejects(resolveQueueUrl(failingSqs(denied), { name: 'sync', url: '' }), (err: Error) => {
      assert.match(err.message, /Could not look up the URL of SQS queue "sync\.fifo" \(AccessDenied\)/);
      assert.equal(err.cause, denied);
      return true;
    });
    await assert.rejects(resolveQueueUrl(failingSqs(new Error('plain')), { name: 'sync', url: '' }), /\(error\)/);
  });

  it('checks a configured URL with a request real SQS accepts: its ARN, an attribute every queue has', async () => {
    // The local SQS server does not check attribute names; AWS refuses an unknown or empty one.
    const sent: unknown[] = [];
    const sqs = {
      send: async (command: { input: unknown }) => {
        sent.push(command.input);
        return {};
      },
    } as unknown as SQSClient;
    assert.equal(await resolveQueueUrl(sqs, { name: 'ignored', url: URL }), URL);
    assert.deepEqual(sent, [{ QueueUrl: URL, AttributeNames: ['QueueArn'] }]);
  });

  it('by name: fails when SQS answers without a URL rather than return nothing', async () => {
    await assert.rejects(resolveQueueUrl(answeringSqs({}), { name: 'sync', url: '' }), (err: Error) => {
      assert.match(err.message, /Could not look up the URL of SQS queue "sync\.fifo"/);
      assert.match(String((err.cause as Error)?.message), /GetQueueUrl returned no URL/);
      return true;
    });
  });
});
