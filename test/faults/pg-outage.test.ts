/**
 * PostgreSQL stops in the middle of a sync and starts again (a dedicated embedded server,
 * same data directory and port). The worker process survives, reports the outage on
 * /readyz, and the message is retried until the sync completes with exactly the rows of
 * an undisturbed one.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import postgres from 'postgres';
import { createDatabase } from '../../src/db/client.ts';
import { runMigrations } from '../../src/db/migrate.ts';
import { type LocalPostgres, startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import { freePort } from '../../src/local/free-port.ts';
import type { SimGuest } from '../../src/local/luma-simulator.ts';
import { withDatabase } from '../support/db.ts';
import { testEnv } from '../support/env.ts';
import {
  completingReceiveCount,
  createGate,
  createLeakWatch,
  duplicateGuests,
  lastSyncedAt,
  logs,
  SECRET_DB_PASSWORD,
  SECRET_LUMA_KEY,
  sendSync,
  startFaultyLuma,
  syncedRows,
  until,
  urlWithSecretPassword,
} from '../support/faults.ts';
import { seedEvent, seedMember, seedTeam } from '../support/seed.ts';
import { createFifoQueue, createTestSqs } from '../support/sqs-queue.ts';

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lgs-faults-pg-'));
const port = await freePort();
let server: LocalPostgres | undefined = await startEmbeddedPostgres({ dataDir, keep: true, port });
const adminUrl = server.url;
const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
await admin.unsafe('CREATE DATABASE lgs_outage');
await admin.end();
const databaseUrl = withDatabase(adminUrl, 'lgs_outage');
await runMigrations(databaseUrl);
const database = createDatabase({ url: databaseUrl, poolMax: 2 });
const { db, sql } = database;
after(async () => {
  await database.close();
  await server?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const sqs = createTestSqs();
// Enough receives for the deliveries that fail while the database is down.
const queue = await createFifoQueue(sqs, { label: 'faults-pg', visibilityTimeout: 3, maxReceiveCount: 10 });
const lumaEvents: Record<string, SimGuest[]> = {};
const luma = await startFaultyLuma({ events: lumaEvents, apiKey: SECRET_LUMA_KEY });
const watch = createLeakWatch();

const team = await seedTeam(db);
const members = await Promise.all(
  Array.from({ length: 60 }, (_, i) =>
    seedMember(db, { email: `pg${i}@example.org`, mainTeamUid: i % 2 === 0 ? team.uid : undefined }),
  ),
);
const expected = members.map((m, i) => `${m.uid}|${i % 2 === 0 ? team.uid : '-'}|gst-${i}`).sort();
const event = await seedEvent(db);
lumaEvents[event.externalEventId!] = members.map((m, i) => ({ id: `gst-${i}`, email: m.email! }));

const env = {
  DATABASE_URL: await urlWithSecretPassword(adminUrl, databaseUrl),
  AWS_ENDPOINT_URL_SQS: testEnv('sqsEndpoint'),
  PL_EVENT_GUEST_SYNC_QUEUE_URL: queue.url,
  PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED: 'true',
  PL_EVENT_GUEST_SYNC_WAIT_TIME_SECONDS: '1',
  PL_EVENT_GUEST_SYNC_VISIBILITY_TIMEOUT_SECONDS: '3',
  LUMA_API_URL: luma.url,
  LUMA_API_KEY: SECRET_LUMA_KEY,
  LUMA_PAGE_SIZE: '10',
  SHUTDOWN_GRACE_MS: '2000',
  // A killed or cut-off worker's claim frees itself within one visibility timeout.
  SYNC_CLAIM_LEASE_SECONDS: '3',
};
const worker = await watch.startWorker(env);

interface Readyz {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

describe('PostgreSQL stopped in the middle of a sync', () => {
  it('keeps the worker alive and unready, retries the message, and completes it once PostgreSQL is back', async () => {
    const figures: Record<string, unknown> = {};
    await worker.waitUntilReady();
    const gate = createGate();
    luma.script(event.externalEventId!, (r) =>
      r.page === 3 && r.attempt === 1 ? { kind: 'hold', until: gate.opened } : undefined,
    );
    await sendSync(sqs, queue.url, event);
    await worker.waitForLog(logs.pageProcessed(event.uid, 2));
    await luma.waitForRequest((r) => r.eventId === event.externalEventId && r.page === 3);

    await server!.stop();
    server = undefined;
    const downAt = Date.now();
    gate.open();

    const failures = () =>
      worker.lines.filter((l) => l.msg === 'sync failed: message left for redelivery' && l.groupId === event.uid);
    let outageReport: Readyz | undefined;
    await until('/readyz reporting the database down', async () => {
      const { status, body } = await watch.get(`${worker.url}/readyz`);
      outageReport = JSON.parse(body) as Readyz;
      return status === 503 && outageReport.checks.database?.ok === false;
    });
    assert.equal(outageReport!.checks.queue?.ok, true, 'only the database is reported down');
    figures.readyzDetail = outageReport!.checks.database?.detail;
    // The interrupted delivery and at least one redelivery fail while the database is down.
    await until('two failed deliveries', () => failures().length >= 2, 15_000);
    assert.equal((await watch.get(`${worker.url}/healthz`)).status, 200, 'alive: an orchestrator would not restart it');
    assert.equal(worker.child.exitCode, null);
    assert.ok(!worker.lines.some(logs.syncComplete(event.uid)));
    figures.failedDeliveriesWhileDown = failures().length;
    figures.failureKinds = [...new Set(failures().map((l) => l.kind))];

    server = await startEmbeddedPostgres({ dataDir, keep: true, port });
    const upAt = Date.now();
    figures.outageMs = upAt - downAt;
    await worker.waitUntilReady(15_000);
    figures.readyAfterRestartMs = Date.now() - upAt;
    const done = await worker.waitForLog(logs.syncComplete(event.uid), 20_000);
    figures.completedAfterRestartMs = Date.parse(String(done.time)) - upAt;
    figures.completingReceiveCount = completingReceiveCount(worker, event.uid);

    assert.deepEqual(await syncedRows(sql, event.uid), expected);
    assert.deepEqual(await duplicateGuests(sql), []);
    assert.notEqual(await lastSyncedAt(sql, event.uid), null);
    assert.ok((figures.completingReceiveCount as number) >= 3, 'retried through the outage');
    assert.equal(worker.child.exitCode, null, 'the same process throughout');
    const metrics = await watch.get(`${worker.url}/metrics`);
    assert.match(metrics.body, /^lgs_sync_errors_total\{kind="[^"]+"\} [1-9]/m);
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
    console.log(`# pg-outage figures ${JSON.stringify(figures)}`);
  });

  it('reports a rejected database password as unready, without showing it', async () => {
    // Same role, wrong password that starts like the right one: the leak check would see it.
    const wrong = new URL(env.DATABASE_URL);
    wrong.password = `${SECRET_DB_PASSWORD}x`;
    const rejected = await watch.startWorker({ ...env, DATABASE_URL: wrong.toString() });
    const waiting = await rejected.waitForLog(
      (l) => l.msg === 'waiting for a dependency' && l.what === 'directory schema',
    );
    assert.match(String(waiting.reason), /password authentication failed/);
    const { status, body } = await watch.get(`${rejected.url}/readyz`);
    assert.equal(status, 503);
    assert.equal((JSON.parse(body) as Readyz).checks.database?.detail, 'database unreachable (28P01)');
    rejected.child.kill('SIGTERM');
    assert.equal(await rejected.exited, 0, 'a worker still waiting for its database stops cleanly');
  });

  it('never shows the Luma key or the database password', () => {
    const seen = watch.assertNoSecrets();
    console.log(`# pg-outage leak check ${JSON.stringify(seen)}`);
    assert.ok(seen.lines > 30 && seen.bodies >= 3, JSON.stringify(seen));
  });
});
