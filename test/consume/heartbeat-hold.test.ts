/**
 * holdMessage's rules, with the clock mocked and SQS a function that answers as each test
 * says: when a message counts as held, when it is given up (once), and what stop() waits
 * for. heartbeat.test.ts runs the heartbeat against a real SQS server through a cut link.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import { classifyHeartbeatFailure, holdMessage, MessageLostError } from '../../src/consume/heartbeat.ts';
import { errorKind } from '../../src/errors.ts';
import { captureLogger } from '../support/sqs-queue.ts';

const message = { MessageId: 'm1', ReceiptHandle: 'rh-1' };
const unreachable = () => Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error', $fault: 'server' });
const receiptGone = () => Object.assign(new Error('Message does not exist'), { name: 'ReceiptHandleIsInvalid' });

/** Lets the promise callbacks of a beat that answered run (setImmediate is not mocked). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A hold whose every extension is answered by `answer(n)` (n counts from 1): a value is
 * success, an Error a failure, a promise an answer still on its way.
 */
function hold(options: { visibility: number; interval: number }, answer: (n: number) => unknown = () => ({})) {
  const { log, lines } = captureLogger();
  const sent: Array<{ input: ChangeMessageVisibilityCommand['input']; signal?: AbortSignal }> = [];
  const failures: string[] = [];
  const lost: Error[] = [];
  const h = holdMessage({
    sqs: {
      send: (async (command: ChangeMessageVisibilityCommand, opts?: { abortSignal?: AbortSignal }) => {
        sent.push({ input: command.input, signal: opts?.abortSignal });
        const result = await answer(sent.length);
        if (result instanceof Error) throw result;
        return result;
      }) as never,
    },
    queueUrl: 'https://sqs.test/q.fifo',
    message,
    visibilityTimeoutSeconds: options.visibility,
    intervalSeconds: options.interval,
    log,
    onFailure: (reason) => failures.push(reason),
    onLost: (err) => lost.push(err),
  });
  return { h, sent, failures, lost, lines };
}

async function advance(ms: number) {
  mock.timers.tick(ms);
  await settle();
}

describe('holdMessage, on a mocked clock', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  it('extends the message’s visibility by the whole timeout every interval, for its own receipt on its own queue', async () => {
    const { h, sent, lost } = hold({ visibility: 30, interval: 10 });
    await advance(9_999);
    assert.equal(sent.length, 0, 'nothing before the first interval');
    await advance(1);
    await advance(10_000);
    assert.equal(sent.length, 2);
    for (const { input } of sent) {
      assert.deepEqual(input, { QueueUrl: 'https://sqs.test/q.fifo', ReceiptHandle: 'rh-1', VisibilityTimeout: 30 });
    }
    await advance(60_000);
    assert.equal(sent.length, 8);
    assert.equal(lost.length, 0, 'held as long as the extensions succeed');
    await h.stop();
  });

  it('counts the message held for a whole timeout from each successful extension, so a later failure is only a warning', async () => {
    // Extensions at 1 s, 2 s … succeed until 5 s; from 6 s on they fail: held until 5 + 3 = 8 s.
    const { h, failures, lost, lines } = hold({ visibility: 3, interval: 1 }, (n) => (n <= 5 ? {} : unreachable()));
    for (let s = 1; s <= 7; s++) await advance(1_000);
    assert.deepEqual(failures, ['unreachable', 'unreachable']);
    assert.equal(lost.length, 0, 'still hidden until 8 s');
    const warning = lines.find((l) => l.msg === 'visibility extension failed');
    assert.equal(warning?.level, 40);
    assert.equal(warning?.messageId, 'm1');
    assert.equal(warning?.reason, 'unreachable');
    assert.equal(warning?.heldForMs, 2_000, 'failed at 6 s, held until 8 s');
    assert.ok(warning?.err);
    await advance(1_000);
    assert.equal(lost.length, 1, 'given up once the timeout passed without an extension');
    assert.ok(lost[0] instanceof MessageLostError);
    assert.equal(lost[0]?.name, 'MessageLostError');
    // The sync it aborts is counted by this kind: a fault of its own, not `unexpected`.
    assert.equal(errorKind(lost[0]), 'message_lost');
    await h.stop();
  });

  it('gives the message up the moment its timeout passes, even when the next beat would come later', async () => {
    // Held until 3 s; the beat at 2 s fails and the next would come at 4 s.
    const { h, lost, sent } = hold({ visibility: 3, interval: 2 }, () => unreachable());
    await advance(2_000);
    assert.equal(sent.length, 1);
    await advance(999);
    assert.equal(lost.length, 0);
    await advance(1);
    assert.equal(lost.length, 1, 'given up at 3 s');
    assert.match(
      lost[0]!.message,
      /message m1 can no longer be held: its visibility timeout passed without an extension/,
    );
    await advance(10_000);
    assert.equal(sent.length, 1, 'no extension is tried once the message is given up');
    assert.equal(lost.length, 1);
    await h.stop();
  });

  it('gives the message up at once when an extension fails after its timeout passed', async () => {
    // A beat slower than the timeout (not what the consumer configures, but holdMessage allows it).
    const { h, lost, failures } = hold({ visibility: 2, interval: 3 }, () => unreachable());
    await advance(3_000);
    assert.deepEqual(failures, ['unreachable']);
    assert.equal(lost.length, 1, 'given up by the failed extension itself, not by a later timer');
    assert.match(lost[0]!.message, /its visibility timeout passed without an extension/);
    await h.stop();
  });

  it('gives the message up at once when an extension fails at the very instant its timeout passes', async () => {
    const { h, lost } = hold({ visibility: 2, interval: 2 }, () => unreachable());
    await advance(2_000);
    assert.equal(lost.length, 1);
    await h.stop();
  });

  it('keeps the message when an extension succeeds after a failed one: the failure’s timer finds it extended', async () => {
    // 1 s fails (held until 3 s, a timer set for then); 2 s succeeds (held until 5 s); later ones succeed.
    const { h, lost, failures } = hold({ visibility: 3, interval: 1 }, (n) => (n === 1 ? unreachable() : {}));
    await advance(1_000);
    await advance(1_000);
    await advance(1_000);
    await advance(5_000);
    assert.deepEqual(failures, ['unreachable']);
    assert.equal(lost.length, 0);
    await h.stop();
  });

  it('works without an onFailure listener: a failure still gives the message up', async () => {
    const lost: Error[] = [];
    const h = holdMessage({
      sqs: {
        send: async () => {
          throw receiptGone();
        },
      },
      queueUrl: 'q',
      message,
      visibilityTimeoutSeconds: 30,
      intervalSeconds: 1,
      log: captureLogger().log,
      onLost: (err) => lost.push(err),
    });
    await advance(1_000);
    assert.equal(lost.length, 1);
    await h.stop();
  });

  it('gives the message up once, whatever else fails afterwards', async () => {
    // 1 s: unreachable (a timer is set for 3 s); 2 s: the receipt is gone. The timer still fires.
    const { h, lost, failures } = hold({ visibility: 3, interval: 1 }, (n) =>
      n === 1 ? unreachable() : receiptGone(),
    );
    await advance(1_000);
    assert.equal(lost.length, 0);
    await advance(1_000);
    assert.deepEqual(failures, ['unreachable', 'receipt_invalid']);
    assert.equal(lost.length, 1);
    assert.match(lost[0]!.message, /message m1 can no longer be held: SQS no longer knows its receipt handle/);
    await advance(5_000);
    assert.equal(lost.length, 1);
    await h.stop();
  });

  it('gives nothing up after stop(): a timer set by an earlier failure finds the sync ended', async () => {
    const { h, lost } = hold({ visibility: 3, interval: 1 }, () => unreachable());
    await advance(1_000); // fails; a timer waits for 3 s
    await h.stop();
    await advance(5_000);
    assert.equal(lost.length, 0);
  });

  it('stops extending on stop()', async () => {
    const { h, sent } = hold({ visibility: 30, interval: 1 });
    await advance(2_000);
    await h.stop();
    await advance(10_000);
    assert.equal(sent.length, 2);
  });

  it('lets stop() wait for the extension in flight, the latest one when two overlap', async () => {
    const answers = [Promise.withResolvers<unknown>(), Promise.withResolvers<unknown>()];
    const { h, sent } = hold({ visibility: 30, interval: 1 }, (n) => answers[n - 1]!.promise);
    await advance(1_000);
    await advance(1_000);
    assert.equal(sent.length, 2, 'two extensions on their way');
    answers[0]!.resolve({});
    await settle();
    let stopped = false;
    const stopping = h.stop().then(() => {
      stopped = true;
    });
    await settle();
    assert.equal(stopped, false, 'the second extension is still on its way');
    answers[1]!.resolve({});
    await stopping;
  });

  it('resolves stop() at once when no extension is in flight', async () => {
    const { h } = hold({ visibility: 30, interval: 1 });
    await advance(1_000); // one extension, answered
    let stopped = false;
    void h.stop().then(() => {
      stopped = true;
    });
    await settle();
    assert.equal(stopped, true);
  });

  it('keeps a failure after stop() at debug: the race with the end of a sync', async () => {
    const answer = Promise.withResolvers<unknown>();
    const { h, lines, failures, lost } = hold({ visibility: 30, interval: 1 }, () => answer.promise);
    await advance(1_000);
    const stopping = h.stop();
    answer.resolve(receiptGone());
    await stopping;
    const race = lines.find((l) => l.msg === 'heartbeat lost a race with the end of a sync');
    assert.equal(race?.level, 20);
    assert.equal(race?.messageId, 'm1');
    assert.ok(race?.err);
    assert.deepEqual(failures, []);
    assert.equal(lost.length, 0);
    assert.equal(lines.filter((l) => l.msg === 'visibility extension failed').length, 0);
  });
});

describe('holdMessage, on the real clock', () => {
  it('lets a hanging extension fail only when the message reappears, not before', async () => {
    // Held until 1.5 s; the extension at 0.5 s hangs until its signal aborts it.
    const lostAt = Promise.withResolvers<void>();
    const { log, lines } = captureLogger();
    const failures: string[] = [];
    const signals: AbortSignal[] = [];
    const h = holdMessage({
      sqs: {
        send: ((_command: unknown, opts?: { abortSignal?: AbortSignal }) =>
          new Promise((_resolve, reject) => {
            const signal = opts?.abortSignal;
            if (!signal) return;
            signals.push(signal);
            signal.addEventListener('abort', () => reject(signal.reason), { once: true });
          })) as never,
      },
      queueUrl: 'q',
      message,
      visibilityTimeoutSeconds: 1.5,
      intervalSeconds: 0.5,
      log,
      onFailure: (reason) => failures.push(reason),
      onLost: () => lostAt.resolve(),
    });
    const timeout = setTimeout(() => lostAt.reject(new Error('the hanging extension was never given up')), 20_000);
    await lostAt.promise.finally(() => clearTimeout(timeout));
    await h.stop();
    assert.ok(signals.length >= 1, 'each extension carries an abort signal');
    const first = lines.find((l) => l.msg === 'visibility extension failed');
    assert.equal(first?.reason, 'unreachable');
    // Aborted at the instant the message reappears (timers may run a millisecond early against Date.now()).
    assert.ok(
      Number(first?.heldForMs) <= 50,
      `the extension failed ${first?.heldForMs} ms before the message reappeared`,
    );
  });
});

describe('classifyHeartbeatFailure', () => {
  const named = (name: string, extra: object = {}) => Object.assign(new Error('x'), { name }, extra);

  it('calls a receipt SQS no longer knows receipt_invalid, under each of its names', () => {
    for (const name of ['ReceiptHandleIsInvalid', 'MessageNotInflight', 'AWS.SimpleQueueService.MessageNotInflight']) {
      assert.equal(classifyHeartbeatFailure(named(name, { $fault: 'client' })), 'receipt_invalid', name);
    }
    assert.equal(
      classifyHeartbeatFailure(
        named('InvalidParameterValue', {
          message: 'Value rh for parameter ReceiptHandle is invalid. Reason: The Receipt Handle has expired.',
          $fault: 'client',
        }),
      ),
      'receipt_invalid',
      'an expired handle, named in a parameter error',
    );
  });

  it('calls another client error rejected, and throttling, server errors and network failures unreachable', () => {
    assert.equal(
      classifyHeartbeatFailure(
        named('InvalidParameterValue', { message: 'VisibilityTimeout is too large', $fault: 'client' }),
      ),
      'rejected',
    );
    assert.equal(
      classifyHeartbeatFailure(named('AccessDenied', { $fault: 'client', $metadata: { httpStatusCode: 403 } })),
      'rejected',
    );
    assert.equal(
      classifyHeartbeatFailure(named('ThrottlingException', { $fault: 'client', $metadata: { httpStatusCode: 429 } })),
      'unreachable',
    );
    assert.equal(classifyHeartbeatFailure(named('InternalError', { $fault: 'server' })), 'unreachable');
    // Only the parameter error names an expired handle: a server error that mentions one is transient.
    assert.equal(
      classifyHeartbeatFailure(
        named('InternalError', { message: 'failed to change the visibility of receipt handle rh-1', $fault: 'server' }),
      ),
      'unreachable',
    );
    assert.equal(
      classifyHeartbeatFailure(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })),
      'unreachable',
    );
    assert.equal(classifyHeartbeatFailure({}), 'unreachable');
  });
});
