/**
 * Issue 21 §2, last bullet: on a rolling deploy one replica stops and sends its pending
 * webhook sync at once; a later delivery to another replica in the same debounce window
 * must still lead to a sync that starts after it — SQS must not drop it as a duplicate of
 * the stopped replica's early send. Two receivers share one real FIFO queue (fauxqs).
 * Their windows run on a clock held still inside one window, so both deliveries fall in
 * it however long the machine stalls between them (on the wall clock, a stall of a
 * window's length split them, and a test whose deliveries fall in two windows proves
 * nothing: the two sends have different deduplication ids anyway).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { DeleteMessageCommand } from '@aws-sdk/client-sqs';
import { loadConfig } from '../../src/config/config.ts';
import type { SyncMessage } from '../../src/sync/types.ts';
import { startWebhookReceiver } from '../../src/webhooks/receiver.ts';
import { createTestDatabase } from '../support/db.ts';
import { seedEvent } from '../support/seed.ts';
import { captureLogger, createFifoQueue, createTestSqs, receiveAll, waitFor } from '../support/sqs-queue.ts';

const database = await createTestDatabase({ label: 'rolling_deploy' });
const sqs = createTestSqs();
/** Only how long B's send waits in real time: the receivers' clock never leaves the window. */
const WINDOW_MS = 1_000;
/** The receivers' clock: 1 ms into the window that starts at WINDOW_START, for the whole test. */
const WINDOW_START = Date.parse('2026-03-02T10:00:00.000Z');
const heldClock = () => WINDOW_START + 1;

async function replica(queueUrl: string) {
  const { log } = captureLogger();
  const config = loadConfig({
    LUMA_WEBHOOK_ENABLED: 'true',
    LUMA_WEBHOOK_PORT: '0',
    LUMA_WEBHOOK_ALLOW_UNSIGNED: 'true',
  });
  const running = await startWebhookReceiver({
    config,
    db: database.db,
    sqs,
    queueUrl,
    log,
    windowMs: WINDOW_MS,
    now: heldClock,
  });
  after(() => running.stop());
  return { running, url: `http://127.0.0.1:${running.port}/webhooks/luma` };
}

const deliver = (url: string, lumaId: string) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      type: 'guest.registered',
      data: { id: 'gst-1', user_email: 'a@b.c', event: { id: lumaId } },
    }),
  });

describe('a rolling deploy of the webhook receivers', () => {
  it('a delivery acknowledged by one replica after another stopped early still gets a sync sent after it', async () => {
    const queue = await createFifoQueue(sqs, { label: 'rolling' });
    const lumaId = `evt-${randomBytes(5).toString('hex')}`;
    const event = await seedEvent(database.db, { externalEventId: lumaId });
    const [a, b] = [await replica(queue.url), await replica(queue.url)];
    assert.equal((await deliver(a.url, lumaId)).status, 202);
    await a.running.stop(); // A's pending sync is sent now, early.
    const laterDeliveryAt = Date.now();
    assert.equal((await deliver(b.url, lumaId)).status, 202);

    const received: Array<{ body: SyncMessage; sentAt: number }> = [];
    await waitFor(
      async () => {
        for (const m of await receiveAll(sqs, queue.url)) {
          received.push({ body: JSON.parse(m.Body!) as SyncMessage, sentAt: Number(m.Attributes?.SentTimestamp) });
          // FIFO: the event's group hands out its next message only once this one is gone.
          await sqs.send(new DeleteMessageCommand({ QueueUrl: queue.url, ReceiptHandle: m.ReceiptHandle }));
        }
        return received.length >= 2;
      },
      WINDOW_MS + 20_000,
      "B's sync at its window's end",
    );
    await b.running.stop();
    assert.ok(received.every((m) => m.body.eventUid === event.uid && m.body.trigger === 'webhook'));
    // Both sends are of the one window (A's early, B's at its end): the clock the windows ran on.
    assert.deepEqual(
      received.map((m) => m.body.scheduledFor),
      [new Date(WINDOW_START).toISOString(), new Date(WINDOW_START).toISOString()],
    );
    assert.ok(
      received.some((m) => m.sentAt >= laterDeliveryAt),
      'a sync was enqueued after the later delivery was acknowledged',
    );
  });
});
