/**
 * The SQS server becomes unreachable — before the worker starts, and again in the middle
 * of a sync — and reachable again on the same address. The worker reaches the test SQS
 * server through a relay the test cuts (connections refused, open ones reset), so the
 * server keeps its queues and messages, as SQS does when only the path to it fails. One
 * worker process lives through both outages: it waits and backs off, reports not-ready,
 * and carries on by itself.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SimGuest } from '../../src/local/luma-simulator.ts';
import { createTestDatabase } from '../support/db.ts';
import { testEnv } from '../support/env.ts';
import {
  createGate,
  createLeakWatch,
  duplicateGuests,
  logs,
  SECRET_LUMA_KEY,
  sendSync,
  startCuttableLink,
  startFaultyLuma,
  syncedRows,
  until,
  urlWithSecretPassword,
} from '../support/faults.ts';
import { seedEvent, seedMember } from '../support/seed.ts';
import { createFifoQueue, createTestSqs, queueDepth } from '../support/sqs-queue.ts';

const database = await createTestDatabase({ label: 'faults_sqs' });
const { db, sql } = database;
const lumaEvents: Record<string, SimGuest[]> = {};
const luma = await startFaultyLuma({ events: lumaEvents, apiKey: SECRET_LUMA_KEY });
const watch = createLeakWatch();
const sqs = createTestSqs();
const queue = await createFifoQueue(sqs, { label: 'faults-sqs', visibilityTimeout: 12, maxReceiveCount: 5 });
const sqsServer = new URL(testEnv('sqsEndpoint'));
const link = await startCuttableLink({ host: sqsServer.hostname, port: Number(sqsServer.port) }, { startCut: true });

const members = await Promise.all(
  Array.from({ length: 12 }, (_, i) => seedMember(db, { email: `sqs${i}@example.org` })),
);
const guests: SimGuest[] = members.map((m, i) => ({ id: `gst-${i}`, email: m.email! }));
const expected = members.map((m, i) => `${m.uid}|-|gst-${i}`).sort();
async function seedSyncEvent() {
  const event = await seedEvent(db);
  lumaEvents[event.externalEventId!] = guests;
  return event;
}

/** The worker finds its queue by name here, so that the start-up lookup is what waits. */
const env = {
  DATABASE_URL: await urlWithSecretPassword(testEnv('adminDatabaseUrl'), database.url),
  AWS_ENDPOINT_URL_SQS: link.url,
  PL_EVENT_GUEST_SYNC_QUEUE_NAME: queue.name,
  PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED: 'true',
  PL_EVENT_GUEST_SYNC_WAIT_TIME_SECONDS: '1',
  PL_EVENT_GUEST_SYNC_VISIBILITY_TIMEOUT_SECONDS: '12',
  LUMA_API_URL: luma.url,
  LUMA_API_KEY: SECRET_LUMA_KEY,
  LUMA_PAGE_SIZE: '4',
  SHUTDOWN_GRACE_MS: '2000',
  // A killed or cut-off worker's claim is free when its message reappears (the longest
  // lease a 12 s visibility timeout with its 4 s heartbeat allows). The syncs here must
  // complete in one attempt (mid-sync: the one whose delete fails), and the lease is not
  // what is tested: 8 s renewed every 2.7 s rides out a stall of the worker that a 3 s
  // lease (renewed every second, under a 4 s visibility timeout) lost the claim to (3.5 s).
  SYNC_CLAIM_LEASE_SECONDS: '8',
};

interface Readyz {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

// Started here, not in a test: a worker belongs to the file and lives through both outages.
const first = await seedSyncEvent();
await sendSync(sqs, queue.url, first);
const startDownAt = Date.now();
const worker = await watch.startWorker(env);

describe('the SQS server unreachable', () => {
  const figures: Record<string, unknown> = {};
  const readyz = async (): Promise<{ status: number; body: Readyz }> => {
    const { status, body } = await watch.get(`${worker.url}/readyz`);
    return { status, body: JSON.parse(body) as Readyz };
  };

  it('at start: the worker waits, backing off, unready, and starts consuming once SQS answers', async () => {
    const waits = () => worker.lines.filter((l) => l.msg === 'waiting for a dependency' && l.what === 'queue');
    await until('two failed queue lookups', () => waits().length >= 2);
    const notReady = await readyz();
    assert.equal(notReady.status, 503);
    assert.equal(notReady.body.checks.queue?.ok, false);
    assert.equal(notReady.body.checks.database?.ok, true, 'only the queue is reported down');
    assert.equal((await fetch(`${worker.url}/healthz`)).status, 200, 'alive, so not restarted');
    // Each wait is longer than the one before: 1 s, 2 s, ...
    assert.deepEqual(
      waits()
        .slice(0, 2)
        .map((l) => l.retryInMs),
      [1000, 2000],
    );

    await link.restore();
    const upAt = Date.now();
    figures.startOutageMs = upAt - startDownAt;
    figures.startLookupsWhileDown = waits().length;
    await worker.waitUntilReady(15_000);
    figures.readyAfterSqsBackMs = Date.now() - upAt;
    await worker.waitForLog(logs.syncComplete(first.uid), 15_000);
    figures.firstSyncAfterSqsBackMs = Date.now() - upAt;
    assert.deepEqual(await syncedRows(sql, first.uid), expected);
  });

  it('mid-sync: the sync finishes, the delete fails, the worker backs off unready and recovers by itself', async () => {
    const second = await seedSyncEvent();
    const gate = createGate();
    luma.script(second.externalEventId!, (r) =>
      r.page === 2 && r.attempt === 1 ? { kind: 'hold', until: gate.opened } : undefined,
    );
    await sendSync(sqs, queue.url, second);
    await worker.waitForLog(logs.pageProcessed(second.uid, 1));
    await luma.waitForRequest((r) => r.eventId === second.externalEventId && r.page === 2);

    const linesBefore = worker.lines.length;
    await link.cut();
    const downAt = Date.now();
    gate.open();
    await worker.waitForLog(logs.syncComplete(second.uid));
    await until('/readyz reporting the queue down', async () => {
      const { status, body } = await readyz();
      return status === 503 && body.checks.queue?.ok === false && body.checks.database?.ok === true;
    });
    // The outage lasts a fixed four seconds: the scenario, not a wait for something.
    await until('four seconds of outage', () => Date.now() - downAt >= 4_000, 10_000);
    // The first failure is an error line, the same failure again a debug line (the worker logs at debug here).
    const receiveFailures = worker.lines
      .slice(linesBefore)
      .filter((l) => l.msg === 'SQS receive failed' || l.msg === 'SQS receive failed again').length;
    figures.midOutageReceiveFailures = receiveFailures;
    figures.midOutageMs = Date.now() - downAt;
    assert.ok(receiveFailures >= 1, 'the outage was noticed');
    // Two pollers backing off from 1 s make a handful of attempts in 4 s; a tight loop makes dozens.
    assert.ok(receiveFailures <= 12, `${receiveFailures} receive attempts in 4 s: no back-off`);
    assert.equal(worker.child.exitCode, null, 'the worker survived');

    await link.restore();
    const upAt = Date.now();
    await worker.waitUntilReady(15_000);
    figures.midReadyAfterSqsBackMs = Date.now() - upAt;
    // The undeleted message comes back and is synced again, adding nothing: one visibility
    // timeout (12 s) after the last heartbeat that got through, which may be one sent
    // before the cut and answered after the restore, then the poller's back-off.
    const completions = () => worker.lines.filter(logs.syncComplete(second.uid));
    await until('the undeleted message synced again', () => completions().length >= 2, 40_000);
    figures.redeliveredAfterSqsBackMs = Date.now() - upAt;
    assert.equal(completions()[1]?.created, 0);

    const third = await seedSyncEvent();
    await sendSync(sqs, queue.url, third);
    await worker.waitForLog(logs.syncComplete(third.uid), 15_000);
    assert.deepEqual(await syncedRows(sql, second.uid), expected);
    assert.deepEqual(await syncedRows(sql, third.uid), expected);
    assert.deepEqual(await duplicateGuests(sql), []);
    await until('an empty queue', async () => {
      const depth = await queueDepth(sqs, queue.url);
      return depth.visible === 0 && depth.inFlight === 0;
    });
    await watch.get(`${worker.url}/metrics`);
    assert.equal(worker.child.exitCode, null, 'one process throughout');
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
    console.log(`# sqs-outage figures ${JSON.stringify(figures)}`);
  });

  it('never shows the Luma key or the database password', () => {
    const seen = watch.assertNoSecrets();
    console.log(`# sqs-outage leak check ${JSON.stringify(seen)}`);
    assert.ok(seen.lines > 30 && seen.bodies >= 3, JSON.stringify(seen));
  });
});
