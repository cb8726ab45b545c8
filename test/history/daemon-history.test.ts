import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { eventHistory } from '../../src/history/queries.ts';
import { silentLogger } from '../../src/log.ts';
import { runEnqueue, slotOf } from '../../src/schedule/scheduler.ts';
import { sample } from '../support/metrics-text.ts';
import { seedEvent, seedMember } from '../support/seed.ts';
import { waitFor } from '../support/sqs-queue.ts';
import { startStack } from '../support/stack.ts';
import { startWorkerProcess } from '../support/worker-process.ts';

describe('the daemon records every attempt with its trigger', () => {
  it('writes a history row per consumed message, names the trigger in its logs and counts it', async () => {
    const stack = await startStack({ label: 'daemon_history' });
    const { db } = stack.database;
    const member = await seedMember(db);
    const event = await seedEvent(db);
    stack.lumaEvents[event.externalEventId!] = [
      { id: 'gst-1', email: member.email! },
      { id: 'gst-2', email: 'nobody@nowhere.io' },
    ];
    const worker = await startWorkerProcess(stack.env);
    await worker.waitUntilReady();

    // A message as the daily pass writes it: no trigger field, a slot.
    await runEnqueue({ db, sqs: stack.sqs, queueUrl: stack.queue.url, log: silentLogger }, slotOf(new Date()));
    const first = await worker.waitForLog((l) => l.msg === 'sync complete' && l.eventUid === event.uid);
    assert.equal(first.trigger, 'schedule');

    await stack.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.queue.url,
        MessageBody: JSON.stringify({
          eventUid: event.uid,
          externalEventId: event.externalEventId,
          locationUid: event.locationUid,
          providerType: 'LUMA',
          trigger: 'tier',
        }),
        MessageGroupId: event.uid,
        MessageDeduplicationId: randomUUID(),
      }),
    );
    const start = await worker.waitForLog((l) => l.msg === 'sync start' && l.trigger === 'tier');
    assert.equal(start.eventUid, event.uid);
    await worker.waitForLog((l) => l.msg === 'sync complete' && l.trigger === 'tier');

    // The row is written right after the sync's result line: wait for it rather than race it.
    await waitFor(async () => (await eventHistory(stack.database.sql, event.uid)).length === 2, 10_000, 'two rows');
    const history = await eventHistory(stack.database.sql, event.uid);
    assert.deepEqual(
      history.map((r) => [r.trigger, r.outcome, r.fetched, r.matched, r.withoutAccount]),
      [
        ['tier', 'success', 2, 1, 1],
        ['schedule', 'success', 2, 1, 1],
      ],
    );
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    assert.equal(sample(metrics, 'lgs_syncs_total{trigger="schedule",outcome="success"}'), 1);
    assert.equal(sample(metrics, 'lgs_syncs_total{trigger="tier",outcome="success"}'), 1);
    assert.equal(sample(metrics, 'lgs_syncs_total{trigger="webhook",outcome="success"}'), 0);
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
  });
});
