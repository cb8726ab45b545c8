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
import { eventHistory } from '../../src/history/queries.ts';
import { type LocalPostgres, startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import { freePort } from '../../src/local/free-port.ts';
import type { SimGuest } from '../../src/local/luma-simulator.ts';
import { DEFAULT_MARGIN_MS } from '../../src/shutdown.ts';
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
import { sample } from '../support/metrics-text.ts';
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

const GRACE_MS = 2_000;
const sqs = createTestSqs();
// Enough receives for the deliveries that fail while the database is down.
const queue = await createFifoQueue(sqs, { label: 'faults-pg', visibilityTimeout: 4, maxReceiveCount: 10 });
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
  PL_EVENT_GUEST_SYNC_VISIBILITY_TIMEOUT_SECONDS: '4',
  LUMA_API_URL: luma.url,
  LUMA_API_KEY: SECRET_LUMA_KEY,
  LUMA_PAGE_SIZE: '10',
  SHUTDOWN_GRACE_MS: String(GRACE_MS),
  // A killed or cut-off worker's claim is free when its message reappears (the longest
  // lease a 4 s visibility timeout with its 1 s heartbeat allows).
  SYNC_CLAIM_LEASE_SECONDS: '3',
};
const worker = await watch.startWorker(env);

/** The lines that end a sync attempt of `eventUid` (each is one attempt of the history). */
function attemptEnds(worker: { lines: Record<string, unknown>[] }, eventUid: string) {
  return worker.lines.filter(
    (l) =>
      (l.eventUid === eventUid || l.groupId === eventUid) &&
      /^sync (complete$|failed:|aborted|refused:|deferred:)/.test(String(l.msg)),
  );
}

const lostLine = (l: Record<string, unknown>) => l.msg === 'could not record the sync attempt';

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

    // Every attempt that ended while the database was down reaches the history once it
    // is back (kept in the process meanwhile; before, each was logged and lost).
    const ended = attemptEnds(worker, event.uid);
    const kept = worker.lines.filter((l) => l.msg === 'sync attempt kept until the database is back');
    assert.ok(kept.length >= 2, `attempts kept during the outage: ${kept.length}`);
    await until('the kept attempts written', async () => (await eventHistory(sql, event.uid)).length >= ended.length);
    const history = await eventHistory(sql, event.uid, 100);
    assert.deepEqual(
      history.map((r) => r.outcome).sort(),
      ended.map((l) => (l.msg === 'sync complete' ? 'success' : 'failure')).sort(),
      'one row per attempt, none twice',
    );
    assert.deepEqual(worker.lines.filter(lostLine), [], 'nothing lost');
    figures.attemptsKeptDuringOutage = kept.length;
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
    console.log(`# pg-outage figures ${JSON.stringify(figures)}`);
  });

  it('on SIGTERM while PostgreSQL is still down, exits 0 within the grace and names the exact number of attempts lost', async () => {
    const down = await seedEvent(db);
    lumaEvents[down.externalEventId!] = members.slice(0, 25).map((m, i) => ({ id: `gst-d${i}`, email: m.email! }));
    const second = await watch.startWorker(env);
    await second.waitUntilReady();
    const gate = createGate();
    luma.script(down.externalEventId!, (r) =>
      r.page === 2 && r.attempt === 1 ? { kind: 'hold', until: gate.opened } : undefined,
    );
    await sendSync(sqs, queue.url, down);
    await luma.waitForRequest((r) => r.eventId === down.externalEventId && r.page === 2);
    await server!.stop();
    server = undefined;
    gate.open();
    const keptLines = () =>
      second.lines.filter((l) => l.msg === 'sync attempt kept until the database is back' && l.eventUid === down.uid);
    await until('two attempts kept while the database is down', () => keptLines().length >= 2, 15_000);

    // The gauge shows them (another attempt may end while the scrape is under way).
    const keptBefore = keptLines().length;
    const gauge = sample((await watch.get(`${second.url}/metrics`)).body, 'lgs_sync_history_backlog') ?? -1;
    assert.ok(gauge >= keptBefore && gauge <= keptLines().length, `backlog gauge ${gauge}, kept ${keptBefore}`);

    const signalledAt = performance.now();
    second.child.kill('SIGTERM');
    const code = await second.exited;
    const exitMs = performance.now() - signalledAt;
    assert.equal(code, 0, 'a clean exit: the shutdown deadline (grace + margin) did not pass');
    assert.ok(exitMs < GRACE_MS + DEFAULT_MARGIN_MS + 5_000, `exited ${Math.round(exitMs)} ms after SIGTERM`);

    const ended = attemptEnds(second, down.uid);
    const summary = second.lines.find(
      (l) => l.msg === 'sync attempts lost: the database did not come back before exit',
    );
    assert.ok(summary, 'the loss is reported');
    assert.equal(summary.lost, keptLines().length, 'every kept attempt, counted exactly');
    // Each attempt that ended during the outage is accounted for by one line naming it.
    assert.equal(
      second.lines.filter(lostLine).length,
      ended.length,
      JSON.stringify(
        second.lines
          .filter((l) => Number(l.level) >= 40 || /^sync|shutdown|released/.test(String(l.msg)))
          .map((l) => [l.msg, l.lost ?? l.release ?? l.eventUid, l.unanswered ?? l.ms]),
      ),
    );
    assert.ok(ended.length >= 2);

    server = await startEmbeddedPostgres({ dataDir, keep: true, port });
    await until('the database back', async () =>
      sql`SELECT 1`.then(
        () => true,
        () => false,
      ),
    );
    assert.deepEqual(await eventHistory(sql, down.uid), [], 'lost, as the worker said: none of them is in the history');
    console.log(
      `# pg-outage shutdown figures ${JSON.stringify({ exitMs: Math.round(exitMs), ended: ended.length, lost: summary.lost })}`,
    );
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
