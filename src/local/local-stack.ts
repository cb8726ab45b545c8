/**
 * The local stack behind `npm run local`, started by run-local.ts in a session of its own
 * (so a Ctrl-C in the terminal never reaches it, its worker or its PostgreSQL directly):
 * an embedded PostgreSQL, a local SQS server (fauxqs) and the simulated Luma, a migrated
 * and seeded demo directory, and the real daemon (src/main.ts) as a child process. It
 * enqueues one sync of every demo event at once and prints what was created. Then a guest
 * registers on the simulated Luma, whose signed webhook delivery brings them into the
 * directory within seconds (the webhook is registered at start, as `webhooks:register`
 * does). `--once` stops after that.
 *
 * On SIGTERM (sent by run-local.ts on the first Ctrl-C) or when run-local.ts goes away, it
 * stops in order: the worker first (it drains and closes its SQS and database clients),
 * then the servers it was using; PostgreSQL's data folder is deleted as it stops.
 *
 *   node src/local/local-stack.ts [--once]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SQSClient } from '@aws-sdk/client-sqs';
import { sql } from 'drizzle-orm';
import { createDatabase, type Database } from '../db/client.ts';
import { runMigrations } from '../db/migrate.ts';
import { silentLogger } from '../log.ts';
import { createLumaClient } from '../providers/luma.ts';
import { runEnqueue, slotOf } from '../schedule/scheduler.ts';
import { registerWebhook } from '../webhooks/register.ts';
import { DEMO_LUMA_EVENTS, demoEvents } from './demo-data.ts';
import { type LocalPostgres, startEmbeddedPostgres } from './embedded-postgres.ts';
import { freePort } from './free-port.ts';
import { createFifoQueueWithDlq } from './local-queue.ts';
import { type LocalSqs, startLocalSqs } from './local-sqs.ts';
import { type RunningLumaSimulator, startLumaSimulator } from './luma-simulator-http.ts';
import { seedDemoDirectory } from './seed.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({ options: { once: { type: 'boolean', default: false } } });
const say = (text: string) => process.stdout.write(`[local] ${text}\n`);

/**
 * Writes `export NAME='value'` lines for a shell to source, in the stack's temp folder
 * (TMPDIR, removed when the stack stops): every value here is local-only.
 */
function writeCliEnv(variables: Record<string, string>): string {
  const file = path.join(os.tmpdir(), 'cli.env');
  const quote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`;
  writeFileSync(
    file,
    Object.entries(variables)
      .map(([name, value]) => `export ${name}=${quote(value)}\n`)
      .join(''),
  );
  return file;
}
const LUMA_KEY = 'local-dev-key';

let postgres: LocalPostgres | undefined;
let sqsServer: LocalSqs | undefined;
let luma: RunningLumaSimulator | undefined;
let database: Database | undefined;
let sqs: SQSClient | undefined;
let worker: ChildProcess | undefined;
let stopping: Promise<never> | undefined;

/** Stops everything in order, once, and exits with `code`. */
function stop(reason: string, code = 0): Promise<never> {
  stopping ??= (async () => {
    say(`stopping (${reason}): the worker first…`);
    if (worker && worker.exitCode === null && worker.signalCode === null) {
      const exited = once(worker, 'exit');
      worker.kill('SIGTERM');
      const [exitCode, signal] = (await exited) as [number | null, string | null];
      say(`worker stopped (${exitCode ?? signal}); stopping the SQS server, the simulated Luma and PostgreSQL…`);
    }
    sqs?.destroy();
    await database?.close();
    await luma?.stop();
    await sqsServer?.stop();
    await postgres?.stop(); // also deletes its data folder
    say('local stack stopped');
    process.exit(code);
  })();
  return stopping;
}

// This process owns its shutdown order (the worker before the servers it uses): with these
// handlers in place, stop-on-exit.ts leaves the signals to it.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(signal));
// run-local.ts holds an IPC channel open: if it dies without a word, stop anyway.
process.on('disconnect', () => void stop('run-local went away'));

try {
  say('starting PostgreSQL, SQS and the simulated Luma…');
  postgres = await startEmbeddedPostgres();
  sqsServer = await startLocalSqs();
  luma = await startLumaSimulator({ events: DEMO_LUMA_EVENTS, apiKey: LUMA_KEY });
  database = createDatabase({ url: postgres.url, poolMax: 2 });
  sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: sqsServer.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const migrated = await runMigrations(postgres.url);
  say(`migrated: ${migrated.applied.join(', ')}`);
  await seedDemoDirectory(database.db);
  const { queueUrl } = await createFifoQueueWithDlq(sqs, 'pl-event-guest-sync');
  const httpPort = await freePort();
  const webhookPort = await freePort();
  const webhookUrl = `http://127.0.0.1:${webhookPort}/webhooks/luma`;
  const lumaClient = await createLumaClient({ apiUrl: luma.url, apiKey: LUMA_KEY, requestTimeoutMs: 5_000 });
  const webhook = await registerWebhook(lumaClient, webhookUrl);
  say(`registered Luma webhook ${webhook.id} for ${webhookUrl} (what webhooks:register does)`);

  if (stopping) await stopping; // a Ctrl-C during the start: do not start the worker
  say(`starting the worker (http://127.0.0.1:${httpPort}/metrics)…`);
  worker = spawn(process.execPath, [path.join(ROOT, 'src/main.ts'), 'daemon'], {
    stdio: 'inherit',
    env: {
      ...process.env,
      DATABASE_URL: postgres.url,
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_SQS: sqsServer.endpoint,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      PL_EVENT_GUEST_SYNC_ENABLED: 'true',
      PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED: 'true',
      PL_EVENT_GUEST_SYNC_QUEUE_URL: queueUrl,
      PL_EVENT_GUEST_SYNC_WAIT_TIME_SECONDS: '1',
      LUMA_API_URL: luma.url,
      LUMA_API_KEY: LUMA_KEY,
      LUMA_WEBHOOK_ENABLED: 'true',
      LUMA_WEBHOOK_PORT: String(webhookPort),
      LUMA_WEBHOOK_SECRET: webhook.secret,
      LUMA_WEBHOOK_DEBOUNCE_SECONDS: '2',
      HTTP_PORT: String(httpPort),
      LOG_PRETTY: process.env.LOG_PRETTY ?? 'true',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    },
  });
  // Exiting on its own (not asked to) is a failure of the local run.
  worker.once('exit', (code, signal) => void stop(`the worker exited (${code ?? signal})`, 1));

  // The CLI against this stack: the worker's connection settings in a file to source.
  const cliEnv = writeCliEnv({
    DATABASE_URL: postgres.url,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_SQS: sqsServer.endpoint,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    PL_EVENT_GUEST_SYNC_QUEUE_URL: queueUrl,
    LUMA_API_URL: luma.url,
    LUMA_API_KEY: LUMA_KEY,
  });
  say(`CLI against this stack: . ${cliEnv} && sh .ci/node24.sh node src/main.ts status`);

  // The daemon's cron fires at 03:00 UTC; trigger the same enqueue now.
  const report = await runEnqueue({ db: database.db, sqs, queueUrl, log: silentLogger }, slotOf(new Date()));
  say(`enqueued ${report.enqueued} event(s); waiting for the worker to sync them…`);
  const eventUids = demoEvents().map((e) => e.uid);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const [row] = await database.db.execute<{ pending: number }>(sql`
      SELECT count(*)::int AS pending FROM "PLEvent"
      WHERE uid = ANY(${sql.param(eventUids)}::text[]) AND "guestLastSyncedAt" IS NULL`);
    if (row?.pending === 0) break;
    if (Date.now() > deadline) throw new Error('the worker did not sync the demo events within 60 s');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }

  const rows = await database.db.execute<Record<string, string | null>>(sql`
    SELECT e.name AS event, m.name AS member, m.email, t.name AS team, g."externalGuestId" AS luma_guest
    FROM "PLEventGuest" g JOIN "PLEvent" e ON e.uid = g."eventUid" JOIN "Member" m ON m.uid = g."memberUid"
    LEFT JOIN "Team" t ON t.uid = g."teamUid" ORDER BY e.name, m.name`);
  say(`synced: ${rows.length} guest rows created`);
  console.table(rows.map((r) => ({ ...r })));

  // A registration after start-up: Luma sends a signed guest.registered delivery.
  const registeredAt = Date.now();
  const [delivery] = await luma.registerGuest('evt-LisbonHack2', {
    id: 'gst-hack-barbara',
    email: 'barbara@example.org',
    name: 'Barbara Liskov',
  });
  say(`Barbara Liskov registered for Lisbon Hack Day on Luma; webhook answered ${delivery?.status ?? 'nothing'}`);
  for (;;) {
    const [row] = await database.db.execute<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM "PLEventGuest" WHERE "eventUid" = 'evt-local-hack' AND "memberUid" = 'mem-barbara'`);
    if (row?.n === 1) break;
    if (Date.now() > registeredAt + 30_000) throw new Error('the webhook-triggered sync did not add the registration');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  say(
    `webhook: Barbara Liskov is in the directory's Lisbon Hack Day guests ${((Date.now() - registeredAt) / 1000).toFixed(1)} s after registering`,
  );

  if (values.once) await stop('--once');
  say('the worker keeps running; Ctrl-C stops everything');
} catch (err) {
  if (!stopping) {
    console.error(`[local] ${(err as Error).message}`);
    await stop('a failure', 1);
  }
}
