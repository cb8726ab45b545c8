import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { seedEvent } from './support/seed.ts';
import { receiveAll, waitFor } from './support/sqs-queue.ts';
import { startStack } from './support/stack.ts';
import { startWorkerProcess } from './support/worker-process.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;

async function sendSyncMessage(stack: Stack, event?: Awaited<ReturnType<typeof seedEvent>>): Promise<string> {
  event ??= await seedEvent(stack.database.db);
  const { MessageId } = await stack.sqs.send(
    new SendMessageCommand({
      QueueUrl: stack.queue.url,
      MessageBody: JSON.stringify({
        eventUid: event.uid,
        externalEventId: event.externalEventId,
        locationUid: event.locationUid,
        providerType: 'LUMA',
      }),
      MessageGroupId: event.uid,
      MessageDeduplicationId: randomUUID(),
    }),
  );
  return MessageId!;
}

/** Receives until `messageId` comes back (it may first have to wait out a visibility timeout). */
async function eventuallyReceived(stack: Stack, messageId: string, timeoutMs: number): Promise<void> {
  let seen = false;
  await waitFor(
    async () => {
      seen ||= (await receiveAll(stack.sqs, stack.queue.url)).some((m) => m.MessageId === messageId);
      return seen;
    },
    timeoutMs,
    `message ${messageId} to be receivable`,
  );
}

describe('daemon shutdown order and promptness, as a real process', () => {
  it('exits 0 on SIGTERM while idle without waiting out the open 20 s long poll, losing nothing', async (t) => {
    const stack = await startStack({ label: 'shutdown_idle', visibilityTimeout: 4 });
    // The defaults: a 20 s long poll and a 25 s grace.
    const { PL_EVENT_GUEST_SYNC_WAIT_TIME_SECONDS: _, SHUTDOWN_GRACE_MS: __, ...env } = stack.env;
    const worker = await startWorkerProcess(env);
    await worker.waitUntilReady();
    await worker.waitForLog((l) => l.msg === 'consumer started' && l.concurrency === 2);

    const started = performance.now();
    worker.child.kill('SIGTERM');
    const code = await worker.exited;
    t.diagnostic(`idle worker exited ${Math.round(performance.now() - started)} ms after SIGTERM`);

    assert.equal(code, 0, worker.stderr());
    // It did not wait out the poll (20 s whatever the machine): the open poll was cut short.
    assert.ok(
      worker.lines.some((l) => l.msg === 'long poll aborted: polling stopped'),
      'the open long poll was aborted',
    );
    assert.ok(!worker.lines.some((l) => l.level === 50), 'no error line (an aborted poll is not an SQS failure)');

    // A message sent now may be handed to the poll the server still holds for the dead
    // worker; it then reappears after the visibility timeout (4 s here). Nothing is lost.
    const messageId = await sendSyncMessage(stack);
    await eventuallyReceived(stack, messageId, 15_000);
  });

  it('stops taking messages as soon as SIGTERM arrives while an enqueue run is still going, then exits 0', async () => {
    const stack = await startStack({ label: 'shutdown_order', visibilityTimeout: 4 });
    const event = await seedEvent(stack.database.db);
    const worker = await startWorkerProcess({
      ...stack.env,
      PL_EVENT_GUEST_SYNC_ENABLED: 'true',
      PL_EVENT_GUEST_SYNC_CRON: '* * * * * *',
      SHUTDOWN_GRACE_MS: '2000',
    });
    await worker.waitUntilReady();

    // Hold the events table so the next enqueue run blocks in discovery: a slow producer.
    const { sql } = stack.database;
    const reserved = await sql.reserve();
    try {
      await reserved`BEGIN`;
      await reserved`LOCK TABLE "PLEvent" IN ACCESS EXCLUSIVE MODE`;
      await waitFor(
        async () => {
          const [row] = await sql`
            SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%from "PLEvent"%'`;
          return row!.n > 0;
        },
        20_000,
        'an enqueue run blocked on the events table',
      );

      worker.child.kill('SIGTERM');
      await worker.waitForLog((l) => l.msg === 'shutdown started');
      const messageId = await sendSyncMessage(stack, event);
      // The producer holds shutdown until its grace ends; only then is the table released.
      await reserved`ROLLBACK`;

      assert.equal(await worker.exited, 0, worker.stderr());
      const taken = worker.lines.filter((l) => l.messageId === messageId);
      assert.deepEqual(
        taken.map((l) => l.msg),
        [],
        'the worker took no new message after SIGTERM',
      );
      await eventuallyReceived(stack, messageId, 15_000);
    } finally {
      await reserved`ROLLBACK`.catch(() => {});
      reserved.release();
    }
  });
});
