import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eventHistory } from '../../src/history/queries.ts';
import { freePort } from '../../src/local/free-port.ts';
import { sample } from '../support/metrics-text.ts';
import { guestsOf, seedEvent, seedMember } from '../support/seed.ts';
import { waitFor } from '../support/sqs-queue.ts';
import { startStack } from '../support/stack.ts';
import { startWorkerProcess } from '../support/worker-process.ts';

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/main.ts');

/** Runs the CLI to the end; resolves with its exit code and output. */
async function cli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const [code] = await once(child, 'exit');
  return { code: code as number, stdout, stderr };
}

describe('Luma webhooks end to end', () => {
  it('webhooks:register creates the webhook once and prints its secret; a bad key fails clearly', async () => {
    const stack = await startStack({ label: 'webhook_register' });
    const url = 'https://directory.example/webhooks/luma';
    const env = { LUMA_API_URL: stack.env.LUMA_API_URL!, LUMA_API_KEY: stack.env.LUMA_API_KEY! };
    const first = await cli(['webhooks:register', '--url', url], env);
    const second = await cli(['webhooks:register', '--url', url], env);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(second.code, 0, second.stderr);
    const [a, b] = [JSON.parse(first.stdout), JSON.parse(second.stdout)];
    assert.equal(a.reused, false);
    assert.equal(b.reused, true);
    assert.equal(b.id, a.id);
    assert.match(a.secret, /^whsec_/);
    assert.deepEqual(a.event_types, ['guest.registered', 'guest.updated']);
    assert.equal(stack.luma.webhooks.webhooks.length, 1, 'idempotent: one webhook for the URL');
    assert.match(first.stderr, /store its secret as LUMA_WEBHOOK_SECRET/);

    const denied = await cli(['webhooks:register', '--url', url], { ...env, LUMA_API_KEY: 'wrong-key-s3cr3t' });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /Luma refused GET \/v1\/webhooks\/list \(401\): check LUMA_API_KEY/);
    assert.ok(!`${denied.stdout}${denied.stderr}`.includes('wrong-key-s3cr3t'));
    const usage = await cli(['webhooks:register'], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /webhooks:register needs --url/);
  });

  it('a registration on Luma reaches the directory within seconds; a forged delivery is refused', async () => {
    const stack = await startStack({ label: 'webhook_e2e' });
    const { db } = stack.database;
    const member = await seedMember(db);
    const event = await seedEvent(db);
    const lumaId = event.externalEventId!;
    stack.lumaEvents[lumaId] = [];
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/webhooks/luma`;
    const registered = await cli(['webhooks:register', '--url', url], stack.env);
    assert.equal(registered.code, 0, registered.stderr);
    const { secret } = JSON.parse(registered.stdout);

    const worker = await startWorkerProcess({
      ...stack.env,
      LUMA_WEBHOOK_ENABLED: 'true',
      LUMA_WEBHOOK_PORT: String(port),
      LUMA_WEBHOOK_SECRET: secret,
      LUMA_WEBHOOK_DEBOUNCE_SECONDS: '1',
    });
    await worker.waitUntilReady();
    await worker.waitForLog((l) => l.msg === 'webhook receiver listening');

    const approvedAt = performance.now();
    const [delivery] = await stack.luma.registerGuest(lumaId, { id: 'gst-new', email: member.email! });
    assert.equal(delivery?.status, 202);
    await waitFor(async () => (await guestsOf(db, event.uid)).length === 1, 15_000, 'the new guest row');
    const lagMs = performance.now() - approvedAt;
    // A figure, not an assertion: the waitFor deadline above only bounds a hang.
    console.log(`# webhook lag from registration to directory row: ${Math.round(lagMs)} ms`);
    const start = await worker.waitForLog((l) => l.msg === 'sync start' && l.eventUid === event.uid);
    assert.equal(start.trigger, 'webhook');
    await waitFor(async () => (await eventHistory(stack.database.sql, event.uid)).length === 1, 10_000, 'history');
    assert.equal((await eventHistory(stack.database.sql, event.uid))[0]?.trigger, 'webhook');

    const forged = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': 'msg_forged',
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': 'v1,Zm9yZ2VkIHNpZ25hdHVyZQ==',
      },
      body: JSON.stringify({ type: 'guest.registered', data: { event: { id: lumaId } } }),
    });
    assert.equal(forged.status, 401);
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    assert.equal(sample(metrics, 'lgs_webhook_deliveries_total{outcome="accepted"}'), 1);
    assert.equal(sample(metrics, 'lgs_webhook_deliveries_total{outcome="unauthorized"}'), 1);
    assert.equal(sample(metrics, 'lgs_syncs_total{trigger="webhook",outcome="success"}'), 1);
    const logs = JSON.stringify(worker.lines) + worker.stderr;
    assert.ok(!logs.includes(secret.slice(6)), 'the webhook secret is never logged');

    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
  });
});
