/**
 * runEnqueue, one scheduler run: what it discovers, sends and reports, against a real
 * database and queue; and, with a scripted SQS client, the level of its report line when
 * entries failed (the line an operator alerts on).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { runEnqueue } from '../../src/schedule/scheduler.ts';
import { createTestDatabase } from '../support/db.ts';
import { DAY, seedEvent } from '../support/seed.ts';
import { captureLogger, createFifoQueue, createTestSqs, queueDepth, receiveAll } from '../support/sqs-queue.ts';

const { db } = await createTestDatabase({ label: 'run_enqueue' });
const sqs = createTestSqs();

/** An SQS client that refuses every entry as the sender's fault (not retried). */
function refusingSqs(): SQSClient {
  return {
    async send(command: SendMessageBatchCommand) {
      const entries = command.input.Entries ?? [];
      return {
        Successful: [],
        Failed: entries.map((e) => ({ Id: e.Id!, SenderFault: true, Code: 'InvalidParameter', Message: 'no' })),
      };
    },
  } as unknown as SQSClient;
}

describe('runEnqueue', () => {
  it('discovers the syncable events and enqueues one message each, once per slot; dry run sends nothing', async () => {
    const queue = await createFifoQueue(sqs, { label: 'run' });
    const slot = new Date(Date.now() - (Date.now() % 60_000));
    const syncable = [await seedEvent(db), await seedEvent(db), await seedEvent(db)];
    await seedEvent(db, { endDate: new Date(Date.now() - DAY) });
    await seedEvent(db, { isDeleted: true });
    const { log, lines } = captureLogger();
    const deps = { db, sqs, queueUrl: queue.url, log };

    const dry = await runEnqueue(deps, slot, { dryRun: true });
    assert.deepEqual(dry, { slot: slot.toISOString(), eventsFound: 3, enqueued: 0, failed: 0, calls: 0, dryRun: true });
    assert.equal((await queueDepth(sqs, queue.url)).visible, 0);

    const report = await runEnqueue(deps, slot);
    assert.deepEqual(report, {
      slot: slot.toISOString(),
      eventsFound: 3,
      enqueued: 3,
      failed: 0,
      calls: 1,
      dryRun: false,
    });
    const line = lines.findLast((l) => l.msg === 'enqueue run complete');
    assert.equal(line?.level, 30, 'info when every entry was sent');
    assert.equal(line?.eventsFound, 3);
    assert.equal(line?.enqueued, 3);

    await runEnqueue(deps, slot); // a second replica, same slot
    const messages = await receiveAll(sqs, queue.url);
    assert.deepEqual(messages.map((m) => m.Attributes?.MessageGroupId).sort(), syncable.map((e) => e.uid).sort());
    assert.equal(JSON.parse(messages[0]!.Body!).scheduledFor, slot.toISOString());
  });

  it('reports a run whose entries failed as a warning, with the failed count', async () => {
    const slot = new Date(Date.now() - (Date.now() % 60_000));
    await seedEvent(db);
    await seedEvent(db);
    const { log, lines } = captureLogger();
    const report = await runEnqueue(
      { db, sqs: refusingSqs(), queueUrl: 'https://sqs.invalid/q.fifo', log, retry: { attempts: 1, baseDelayMs: 1 } },
      slot,
    );
    assert.ok(report.eventsFound >= 2, `found ${report.eventsFound}`);
    assert.equal(report.failed, report.eventsFound);
    assert.equal(report.enqueued, 0);
    const line = lines.findLast((l) => l.msg === 'enqueue run complete');
    assert.equal(line?.level, 40);
    assert.equal(line?.failed, report.failed);
    assert.equal(line?.slot, slot.toISOString());
  });
});
