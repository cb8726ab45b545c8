/**
 * How the daemon wires the webhook receiver: the webhooks' share of the Luma budget as the
 * debouncer gets it, each sync costed at its event's last page count, what is logged when
 * SQS takes or refuses a send, and the warning for unverified deliveries. SQS is a stub
 * that records each batch and answers as the test says; the directory is a real database.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { loadConfig } from '../../src/config/config.ts';
import { startWebhookReceiver } from '../../src/webhooks/receiver.ts';
import { createTestDatabase } from '../support/db.ts';
import { seedEvent } from '../support/seed.ts';
import { captureLogger, waitFor } from '../support/sqs-queue.ts';
import { tierSyncHistory } from '../support/tier-sync-history.ts';

const database = await createTestDatabase({ label: 'receiver_wiring' });
const history = tierSyncHistory(database.sql);

function stubSqs(answer: 'ok' | 'refuse' = 'ok') {
  const batches: Array<{ Entries?: Array<{ MessageBody?: string }> }> = [];
  const sqs = {
    send: async (command: { input: (typeof batches)[number] }) => {
      batches.push(command.input);
      const ids = (command.input.Entries ?? []).map((_, i) => ({ Id: `m${i}` }));
      return answer === 'ok' ? { Successful: ids } : { Failed: ids.map((e) => ({ ...e, Code: 'InternalError' })) };
    },
  } as unknown as SQSClient;
  return { sqs, batches };
}

async function start(env: Record<string, string>, sqs: SQSClient) {
  const { log, lines } = captureLogger();
  const outcomes: string[] = [];
  const running = await startWebhookReceiver({
    config: loadConfig({ LUMA_WEBHOOK_ENABLED: 'true', LUMA_WEBHOOK_PORT: '0', ...env }),
    db: database.db,
    sqs,
    queueUrl: 'https://sqs.test/1/sync.fifo',
    log,
    onOutcome: (o) => outcomes.push(o),
    windowMs: 600_000,
  });
  after(() => running.stop());
  const deliver = (lumaId: string) =>
    fetch(`http://127.0.0.1:${running.port}/webhooks/luma`, {
      method: 'POST',
      body: JSON.stringify({ type: 'guest.registered', data: { event: { id: lumaId } } }),
    }).then((r) => r.status);
  return { running, lines, outcomes, deliver };
}

const UNSIGNED = { LUMA_WEBHOOK_ALLOW_UNSIGNED: 'true' };

async function linkedEvent(pages?: number) {
  const lumaId = `evt-${randomBytes(5).toString('hex')}`;
  const event = await seedEvent(database.db, { externalEventId: lumaId });
  if (pages !== undefined) await history.success(event.uid, new Date(Date.now() - 3_600_000), { pages });
  return { event, lumaId };
}

describe('the webhook receiver as the daemon wires it', () => {
  it('plans webhook syncs within their share of the Luma budget per minute, however long the rate window', async () => {
    // 100 requests per 30 s window is 200 a minute; a share of 0.05 is 10 requests a minute.
    const { sqs } = stubSqs();
    const r = await start(
      {
        ...UNSIGNED,
        LUMA_RATE_LIMIT_PER_MINUTE: '100',
        LUMA_RATE_LIMIT_WINDOW_MS: '30000',
        LUMA_WEBHOOK_BUDGET_SHARE: '0.05',
      },
      sqs,
    );
    for (let i = 0; i < 10; i++) assert.equal(await r.deliver((await linkedEvent()).lumaId), 202);
    assert.equal(await r.deliver((await linkedEvent()).lumaId), 202);
    assert.deepEqual(
      r.outcomes,
      [...Array(10).fill('accepted'), 'capped'],
      'one request each: ten fit, the eleventh does not',
    );
  });

  it('costs a webhook sync at its event’s last page count', async () => {
    const { sqs } = stubSqs();
    const r = await start({ ...UNSIGNED, LUMA_RATE_LIMIT_PER_MINUTE: '100', LUMA_WEBHOOK_BUDGET_SHARE: '0.1' }, sqs);
    assert.equal(await r.deliver((await linkedEvent(6)).lumaId), 202);
    assert.equal(await r.deliver((await linkedEvent(6)).lumaId), 202);
    assert.equal(await r.deliver((await linkedEvent(4)).lumaId), 202);
    assert.deepEqual(r.outcomes, ['accepted', 'capped', 'accepted'], '6 + 6 pages exceed 10 requests; 6 + 4 do not');
  });

  it('logs each sync SQS took at debug, and one SQS refused at error, with the event', async () => {
    const ok = stubSqs();
    const taken = await start(UNSIGNED, ok.sqs);
    const { event } = await linkedEvent();
    assert.equal(await taken.deliver(event.externalEventId!), 202);
    await taken.running.stop();
    assert.equal(ok.batches.length, 1);
    const enqueued = taken.lines.find((l) => l.msg === 'webhook-triggered sync enqueued');
    assert.equal(enqueued?.eventUid, event.uid);
    assert.match(String(enqueued?.window), /^\d{4}-\d\d-\d\dT/);
    assert.equal(taken.lines.filter((l) => l.level >= 50).length, 0);

    const refusing = stubSqs('refuse');
    const refused = await start(UNSIGNED, refusing.sqs);
    const other = await linkedEvent();
    assert.equal(await refused.deliver(other.lumaId), 202);
    await refused.running.stop();
    await waitFor(() => refused.lines.some((l) => l.level >= 50), 5_000, 'the refused send to be logged');
    const line = refused.lines.find((l) => l.msg === 'could not enqueue a webhook-triggered sync');
    assert.equal(line?.eventUid, other.event.uid);
    assert.ok(!refused.lines.some((l) => l.msg === 'webhook-triggered sync enqueued'));
  });

  it('warns, as the receiver, that deliveries are not verified only when no secret is set', async () => {
    const unsigned = await start(UNSIGNED, stubSqs().sqs);
    const warning = unsigned.lines.find((l) => /deliveries are NOT verified/.test(l.msg));
    assert.equal(warning?.level, 40);
    assert.equal(warning?.allowUnsigned, true);
    assert.equal(warning?.component, 'LumaWebhookReceiver');

    const signed = await start({ LUMA_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString('base64')}` }, stubSqs().sqs);
    assert.ok(!signed.lines.some((l) => /NOT verified/.test(l.msg)));
    assert.equal(signed.lines.find((l) => l.msg === 'webhook receiver listening')?.verified, true);
  });
});
