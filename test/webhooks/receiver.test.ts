import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../../src/config/config.ts';
import { SIM_API_KEY } from '../../src/local/luma-simulator.ts';
import { startLumaSimulator } from '../../src/local/luma-simulator-http.ts';
import { createLumaClient } from '../../src/providers/luma.ts';
import { keyedDeduplicationId } from '../../src/schedule/send-messages.ts';
import type { SyncMessage } from '../../src/sync/types.ts';
import { startWebhookReceiver } from '../../src/webhooks/receiver.ts';
import { registerWebhook } from '../../src/webhooks/register.ts';
import { createTestDatabase } from '../support/db.ts';
import { seedEvent } from '../support/seed.ts';
import { captureLogger, createFifoQueue, createTestSqs, receiveAll, waitFor } from '../support/sqs-queue.ts';

const database = await createTestDatabase({ label: 'webhooks' });
const sqs = createTestSqs();
const luma = await startLumaSimulator({ events: {}, apiKey: SIM_API_KEY });
after(() => luma.stop());

/** A receiver on a free port with its own queue, registered with the simulated Luma. */
async function receiver(env: Record<string, string> = {}, options: { register?: boolean } = {}) {
  const queue = await createFifoQueue(sqs, { label: 'webhooks' });
  const { log, lines } = captureLogger();
  const outcomes: string[] = [];
  // Allowed unsigned so the first start can learn its port before the secret exists.
  const base = {
    LUMA_WEBHOOK_ENABLED: 'true',
    LUMA_WEBHOOK_PORT: '0',
    LUMA_WEBHOOK_DEBOUNCE_SECONDS: '1',
    LUMA_WEBHOOK_ALLOW_UNSIGNED: 'true',
    ...env,
  };
  // The secret is Luma's: start once without it to learn the port, register, restart with it.
  const probe = await startWebhookReceiver({
    config: loadConfig(base),
    db: database.db,
    sqs,
    queueUrl: queue.url,
    log,
  });
  const url = `http://127.0.0.1:${probe.port}/webhooks/luma`;
  await probe.stop();
  let secret = '';
  if (options.register !== false) {
    secret = (
      await registerWebhook(
        await createLumaClient({ apiUrl: luma.url, apiKey: SIM_API_KEY, requestTimeoutMs: 5000 }),
        url,
      )
    ).secret;
  }
  const running = await startWebhookReceiver({
    config: loadConfig({ ...base, LUMA_WEBHOOK_PORT: String(probe.port), LUMA_WEBHOOK_SECRET: secret }),
    db: database.db,
    sqs,
    queueUrl: queue.url,
    log,
    onOutcome: (o) => outcomes.push(o),
  });
  after(() => running.stop());
  return { running, url, secret, queue, outcomes, lines };
}

async function linkedEvent() {
  const lumaId = `evt-${randomBytes(5).toString('hex')}`;
  const event = await seedEvent(database.db, { externalEventId: lumaId });
  return { event, lumaId };
}

function signed(secret: string, body: string, at = new Date()) {
  const id = `msg_${randomBytes(6).toString('hex')}`;
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, body),
  };
}

const guestBody = (lumaId: string) =>
  JSON.stringify({ type: 'guest.registered', data: { id: 'gst-1', user_email: 'a@b.c', event: { id: lumaId } } });

async function messages(queueUrl: string) {
  return (await receiveAll(sqs, queueUrl)).map((m) => ({ body: JSON.parse(m.Body!) as SyncMessage, message: m }));
}

describe('the Luma webhook receiver', () => {
  it('turns signed deliveries from Luma into one debounced sync of the linked event', async () => {
    const r = await receiver();
    const { event, lumaId } = await linkedEvent();
    // Five registrations in a burst, each delivered and signed by the simulated Luma.
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      const [delivery] = await luma.registerGuest(lumaId, { id: `gst-${i}`, email: `guest${i}@example.com` });
      statuses.push(delivery?.status);
    }
    assert.deepEqual(statuses, [202, 202, 202, 202, 202]);
    let received: Awaited<ReturnType<typeof messages>> = [];
    await waitFor(
      async () => {
        received.push(...(await messages(r.queue.url)));
        return received.length > 0;
      },
      10_000,
      'the webhook-triggered sync',
    );
    await r.running.stop();
    received = [...received, ...(await messages(r.queue.url))];
    const ids = new Set(received.map((m) => m.message.Attributes?.MessageDeduplicationId));
    assert.ok(received.length <= 2, 'a burst is one sync (two when it straddles a window boundary)');
    const [first] = received;
    assert.equal(first?.body.eventUid, event.uid);
    assert.equal(first?.body.trigger, 'webhook');
    assert.equal(
      first?.message.Attributes?.MessageDeduplicationId,
      keyedDeduplicationId(event.uid, 'webhook', first!.body.scheduledFor!),
    );
    assert.equal(ids.size, received.length);
    assert.ok(r.outcomes.includes('accepted') && r.outcomes.filter((o) => o === 'accepted').length <= 2);
  });

  it('answers 401 to forged, unsigned and stale deliveries, and enqueues nothing for them', async () => {
    const r = await receiver();
    const { lumaId } = await linkedEvent();
    const body = guestBody(lumaId);
    const forged = signed(`whsec_${randomBytes(24).toString('base64')}`, body);
    const stale = signed(r.secret, body, new Date(Date.now() - 6 * 60_000));
    const tampered = signed(r.secret, body);
    for (const headers of [forged, stale, { 'content-type': 'application/json' }]) {
      const res = await fetch(r.url, { method: 'POST', headers, body });
      assert.equal(res.status, 401);
    }
    const res = await fetch(r.url, { method: 'POST', headers: tampered, body: body.replace('gst-1', 'gst-2') });
    assert.equal(res.status, 401, 'a body changed after signing');
    await r.running.stop();
    assert.deepEqual(await messages(r.queue.url), []);
    assert.deepEqual(r.outcomes, ['unauthorized', 'unauthorized', 'unauthorized', 'unauthorized']);
    const text = JSON.stringify(r.lines);
    assert.ok(!text.includes(r.secret.slice(6)), 'the secret is never logged');
  });

  it('answers 2xx to what the directory cannot use, 400 to malformed bodies and 413 past the cap', async () => {
    const r = await receiver();
    const post = (body: string, headers = signed(r.secret, body)) =>
      fetch(r.url, { method: 'POST', headers, body }).then((res) => res.status);
    assert.equal(await post(guestBody('evt-nobody-links-this')), 200);
    assert.equal(await post(JSON.stringify({ type: 'event.updated', data: { id: 'x' } })), 200);
    assert.equal(await post('{not json'), 400);
    assert.equal(await post(JSON.stringify({ type: 'guest.updated', data: { id: 'g' } })), 400);
    assert.equal(await post(JSON.stringify({ data: {} })), 400);
    const huge = JSON.stringify({ type: 'guest.registered', data: { pad: 'x'.repeat(100_000) } });
    assert.equal(await post(huge), 413);
    assert.equal((await fetch(r.url)).status, 405);
    assert.equal((await fetch(r.url.replace('/webhooks/luma', '/other'), { method: 'POST' })).status, 404);
    await r.running.stop();
    assert.deepEqual(r.outcomes, [
      'unknown_event',
      'ignored',
      'bad_request',
      'bad_request',
      'bad_request',
      'too_large',
    ]);
  });

  it('acknowledges but drops deliveries past the per-event cap', async () => {
    const r = await receiver({ LUMA_WEBHOOK_MAX_PER_EVENT_PER_HOUR: '1' });
    const { lumaId } = await linkedEvent();
    const post = () => {
      const body = guestBody(lumaId);
      return fetch(r.url, { method: 'POST', headers: signed(r.secret, body), body }).then((res) => res.status);
    };
    assert.equal(await post(), 202);
    await waitFor(async () => (await messages(r.queue.url)).length === 1, 10_000, 'the first sync');
    assert.equal(await post(), 202);
    await r.running.stop();
    assert.deepEqual(await messages(r.queue.url), []);
    assert.deepEqual(r.outcomes, ['accepted', 'capped']);
  });

  it('accepts unsigned deliveries when no secret is configured and LUMA_WEBHOOK_ALLOW_UNSIGNED is true', async () => {
    const r = await receiver({}, { register: false });
    const { event, lumaId } = await linkedEvent();
    const res = await fetch(r.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: guestBody(lumaId),
    });
    assert.equal(res.status, 202);
    await r.running.stop();
    const [only] = await messages(r.queue.url);
    assert.equal(only?.body.eventUid, event.uid);
    assert.ok(r.lines.some((l) => /LUMA_WEBHOOK_SECRET is not set/.test(l.msg)));
  });
});
