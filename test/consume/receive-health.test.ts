/**
 * The receives' health for /readyz and their log lines during an outage: one error line
 * when a failure starts or changes, debug lines while it repeats, one info line when it ends.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createReceiveHealth } from '../../src/consume/receive-health.ts';
import { captureLogger } from '../support/sqs-queue.ts';

const URL = 'https://sqs.test/1/sync.fifo';
const missing = () => Object.assign(new Error('gone'), { name: 'QueueDoesNotExist' });
const refused = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

describe('createReceiveHealth', () => {
  it('is ok before the first receive answers, with no last success yet', () => {
    const health = createReceiveHealth(captureLogger().log, URL);
    assert.equal(health.ok, true);
    assert.equal(health.lastOkAt, undefined);
  });

  it('turns not ok on a failed receive and ok again on the next good one, which it dates', () => {
    const health = createReceiveHealth(captureLogger().log, URL);
    const before = Date.now();
    health.record(true);
    const firstOk = health.lastOkAt;
    assert.ok(firstOk instanceof Date && firstOk.getTime() >= before);
    health.record(false, missing());
    assert.equal(health.ok, false);
    assert.equal(health.lastOkAt, firstOk, 'a failure keeps the last success');
    health.record(true);
    assert.equal(health.ok, true);
    assert.ok(health.lastOkAt !== firstOk);
  });

  it('logs an outage once at error with what to do, its repeats at debug, and its end once with the count', () => {
    const { log, lines } = captureLogger();
    const health = createReceiveHealth(log, URL);
    health.record(true);
    health.record(false, missing());
    health.record(false, missing());
    health.record(false, missing());
    health.record(true);
    health.record(true);

    const errors = lines.filter((l) => l.msg === 'SQS receive failed');
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.level, 50);
    assert.equal(errors[0]?.queueUrl, URL);
    assert.match(String(errors[0]?.reason), /does not exist: create it as a FIFO queue/);
    const again = lines.filter((l) => l.msg === 'SQS receive failed again');
    assert.deepEqual(
      again.map((l) => [l.level, l.failures]),
      [
        [20, 2],
        [20, 3],
      ],
    );
    assert.match(String(again[0]?.reason), /does not exist/);
    const recovered = lines.filter((l) => l.msg === 'SQS receive recovered');
    assert.equal(recovered.length, 1, 'only the first success after failures');
    assert.equal(recovered[0]?.level, 30);
    assert.equal(recovered[0]?.failures, 3);
    assert.equal(recovered[0]?.queueUrl, URL);
  });

  it('logs a new error line when the failure changes, and again for an outage after a recovery', () => {
    const { log, lines } = captureLogger();
    const health = createReceiveHealth(log, URL);
    health.record(false, refused());
    health.record(false, missing());
    health.record(true);
    health.record(false, missing());
    const errors = lines.filter((l) => l.msg === 'SQS receive failed').map((l) => String(l.reason));
    assert.equal(errors.length, 3);
    assert.match(errors[0]!, /cannot be reached/);
    assert.match(errors[1]!, /does not exist/);
    assert.match(errors[2]!, /does not exist/);
    const recovered = lines.find((l) => l.msg === 'SQS receive recovered');
    assert.equal(recovered?.failures, 2, 'the count restarts with each outage');
  });
});
