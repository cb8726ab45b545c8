/**
 * Issue 21 §2, first bullet: unsigned serving is an explicit opt-in; the cheap checks and
 * caps come before any database work; webhook-triggered syncs are bounded by their own
 * share of the Luma budget.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { createDatabase } from '../../src/db/client.ts';
import type { SyncableEvent } from '../../src/schedule/discover.ts';
import { WebhookDebouncer } from '../../src/webhooks/debounce.ts';
import { startWebhookReceiver } from '../../src/webhooks/receiver.ts';
import { createTestDatabase } from '../support/db.ts';
import { seedEvent } from '../support/seed.ts';
import { captureLogger, createFifoQueue, createTestSqs } from '../support/sqs-queue.ts';

const database = await createTestDatabase({ label: 'webhook_caps' });
const sqs = createTestSqs();

const body = (lumaId: string) =>
  JSON.stringify({ type: 'guest.registered', data: { id: 'gst-1', user_email: 'a@b.c', event: { id: lumaId } } });

describe('the webhook receiver’s caps', () => {
  it('refuses to serve unsigned unless LUMA_WEBHOOK_ALLOW_UNSIGNED is true, and then warns', async () => {
    assert.throws(
      () => loadConfig({ LUMA_WEBHOOK_ENABLED: 'true' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /LUMA_WEBHOOK_SECRET: is required when LUMA_WEBHOOK_ENABLED is true/.test(err.message) &&
        /LUMA_WEBHOOK_ALLOW_UNSIGNED=true/.test(err.message),
    );
    const config = loadConfig({
      LUMA_WEBHOOK_ENABLED: 'true',
      LUMA_WEBHOOK_ALLOW_UNSIGNED: 'true',
      LUMA_WEBHOOK_PORT: '0',
    });
    const queue = await createFifoQueue(sqs, { label: 'unsigned' });
    const { log, lines } = captureLogger();
    const running = await startWebhookReceiver({ config, db: database.db, sqs, queueUrl: queue.url, log });
    await running.stop();
    assert.ok(lines.some((l) => l.level === 40 && /deliveries are NOT verified/.test(l.msg)));
  });

  it('looks each Luma event up once per window, and caps lookups per minute before the database', async () => {
    // A handle of its own that counts every statement the receiver sends.
    let statements = 0;
    const counted = createDatabase({ url: database.url, poolMax: 1, onQuery: () => statements++ });
    after(() => counted.close());
    // The connection's own set-up (postgres.js reads the array types once) is not counted.
    await counted.sql`SELECT 1`;
    statements = 0;
    const config = loadConfig({
      LUMA_WEBHOOK_ENABLED: 'true',
      LUMA_WEBHOOK_ALLOW_UNSIGNED: 'true',
      LUMA_WEBHOOK_PORT: '0',
      LUMA_WEBHOOK_MAX_LOOKUPS_PER_MINUTE: '5',
    });
    const queue = await createFifoQueue(sqs, { label: 'lookups' });
    const { log } = captureLogger();
    const outcomes: string[] = [];
    const running = await startWebhookReceiver({
      config,
      db: counted.db,
      sqs,
      queueUrl: queue.url,
      log,
      onOutcome: (o) => outcomes.push(o),
      windowMs: 60_000,
    });
    after(() => running.stop());
    const url = `http://127.0.0.1:${running.port}/webhooks/luma`;
    const post = (lumaId: string) => fetch(url, { method: 'POST', body: body(lumaId) }).then((r) => r.status);

    const { externalEventId } = await seedEvent(database.db);
    for (let i = 0; i < 10; i++) assert.equal(await post(externalEventId!), 202);
    assert.equal(statements, 1, 'ten deliveries for one event: one lookup');

    // A flood of forged ids: four more lookups reach the database, the rest are capped.
    for (let i = 0; i < 40; i++) await post(`evt-forged-${randomBytes(4).toString('hex')}`);
    assert.equal(statements, 5);
    assert.equal(outcomes.filter((o) => o === 'capped').length, 36);
    assert.equal(outcomes.filter((o) => o === 'unknown_event').length, 4);
  });

  it('schedules webhook syncs only within their share of the Luma budget, costed by pages', async () => {
    const event = (uid: string): SyncableEvent => ({
      eventUid: uid,
      externalEventId: `evt-${uid}`,
      locationUid: 'loc',
      providerType: 'LUMA',
    });
    const d = new WebhookDebouncer({
      windowMs: 10_000,
      maxPerEventPerHour: 100,
      maxPerMinute: 100,
      requestsPerMinute: 10,
      send: async () => {},
      log: { error: () => {} } as never,
    });
    assert.equal(d.offer(event('a'), 4), 'scheduled');
    assert.equal(d.offer(event('b'), 4), 'scheduled');
    assert.equal(d.offer(event('c'), 4), 'capped', '12 requests would exceed the share of 10');
    assert.equal(d.offer(event('d'), 2), 'scheduled');
    await d.stop();

    // The share as the receiver derives it: 0.1 of 100 per minute is 10 requests a minute.
    const config = loadConfig({
      LUMA_WEBHOOK_ENABLED: 'true',
      LUMA_WEBHOOK_ALLOW_UNSIGNED: 'true',
      LUMA_WEBHOOK_PORT: '0',
      LUMA_RATE_LIMIT_PER_MINUTE: '100',
      LUMA_WEBHOOK_BUDGET_SHARE: '0.1',
    });
    assert.equal(config.webhook.budgetShare, 0.1);
  });
});
