/**
 * listenToPoller, on a stand-in for one sqs-consumer poller (its events emitted by the
 * test): the back-off while receives fail, the level of each error, and which events
 * settle a message's delete.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { Consumer } from 'sqs-consumer';
import { listenToPoller } from '../../src/consume/poller-events.ts';
import { captureLogger } from '../support/sqs-queue.ts';

function poller(options: { stopped?: boolean } = {}) {
  const emitter = new EventEmitter();
  const waits: number[] = [];
  const consumer = Object.assign(emitter, {
    updateOption: (name: string, value: number) => {
      assert.equal(name, 'pollingWaitTimeMs');
      waits.push(value);
    },
  }) as unknown as Consumer & EventEmitter;
  const { log, lines } = captureLogger();
  const polls: Array<[boolean, unknown]> = [];
  const settled: string[] = [];
  listenToPoller(consumer, {
    log,
    pollingStopped: () => options.stopped === true,
    onPoll: (ok, err) => polls.push([ok, err]),
    onDeleteSettled: (id) => settled.push(id),
  });
  return { consumer, waits, lines, polls, settled };
}

describe('listenToPoller', () => {
  it('backs off 1 s doubling to 10 s while receives fail, and back to none on the first good poll', () => {
    const p = poller();
    const err = new Error('connect ECONNREFUSED');
    for (let i = 0; i < 6; i++) p.consumer.emit('error', err);
    assert.deepEqual(p.waits, [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    assert.equal(p.polls.length, 6);
    assert.deepEqual(p.polls[0], [false, err]);
    p.consumer.emit('empty');
    assert.deepEqual(p.waits.at(-1), 0);
    assert.deepEqual(p.polls.at(-1), [true, undefined]);
    // The next outage starts again from 1 s.
    p.consumer.emit('error', err);
    assert.deepEqual(p.waits.at(-1), 1_000);
    p.consumer.emit('message_received', { MessageId: 'm' });
    assert.deepEqual(p.waits.at(-1), 0);
    assert.equal(p.polls.filter(([ok]) => ok).length, 2, 'a received message is a good poll too');
  });

  it('leaves the wait alone on good polls when it never backed off', () => {
    const p = poller();
    p.consumer.emit('empty');
    p.consumer.emit('message_received', { MessageId: 'm' });
    assert.deepEqual(p.waits, []);
    assert.equal(p.polls.length, 2);
  });

  it('takes an aborted long poll after polling stopped for what it is: a debug line, no failed poll, no back-off', () => {
    const p = poller({ stopped: true });
    p.consumer.emit('error', new Error('Request aborted'));
    assert.deepEqual(p.polls, []);
    assert.deepEqual(p.waits, []);
    const line = p.lines.find((l) => l.msg === 'long poll aborted: polling stopped');
    assert.equal(line?.level, 20);
    assert.ok(line?.err);
  });

  it('logs a failed delete at error with the message id and settles that message’s delete', () => {
    const p = poller({ stopped: true });
    p.consumer.emit('error', new Error('delete failed'), { MessageId: 'm-1' });
    assert.deepEqual(p.settled, ['m-1']);
    assert.deepEqual(p.polls, [], 'not a receive');
    const line = p.lines.find((l) => l.msg === 'SQS error on a message');
    assert.equal(line?.level, 50);
    assert.equal(line?.messageId, 'm-1');
    assert.ok(line?.err);
  });

  it('names every message of a failed batch and settles none by a batch id', () => {
    const p = poller();
    p.consumer.emit('error', new Error('batch delete failed'), [{ MessageId: 'a' }, { MessageId: 'b' }]);
    assert.deepEqual(p.lines.find((l) => l.msg === 'SQS error on a message')?.messageId, ['a', 'b']);
    assert.deepEqual(p.settled, []);
  });

  it('settles a message’s delete when sqs-consumer has processed it, and ignores one without an id', () => {
    const p = poller();
    p.consumer.emit('message_processed', { MessageId: 'm-2' });
    p.consumer.emit('message_processed', {});
    assert.deepEqual(p.settled, ['m-2']);
  });

  it('traces a handler failure at debug and a handler timeout at error, with the message id', () => {
    const p = poller();
    p.consumer.emit('processing_error', new Error('sync failed'), { MessageId: 'm-3' });
    p.consumer.emit('timeout_error', new Error('timed out'), { MessageId: 'm-4' });
    const processing = p.lines.find((l) => l.msg === 'processing_error');
    assert.equal(processing?.level, 20);
    assert.equal(processing?.messageId, 'm-3');
    assert.ok(processing?.err);
    const timeout = p.lines.find((l) => l.msg === 'message handler timed out');
    assert.equal(timeout?.level, 50);
    assert.equal(timeout?.messageId, 'm-4');
    assert.ok(timeout?.err);
  });
});
