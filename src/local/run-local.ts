/**
 * `npm run local`: the whole worker end to end on one machine with nothing but Node 24.
 * Starts an embedded PostgreSQL, a local SQS server (fauxqs) and the simulated Luma,
 * migrates and seeds a small directory, runs the real daemon (src/main.ts) against them
 * as a child process, enqueues one sync of every event at once, and prints what it
 * created. Ctrl-C shuts everything down. `--once` exits after the first sync.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SQSClient } from '@aws-sdk/client-sqs';
import { sql } from 'drizzle-orm';
import { createDatabase } from '../db/client.ts';
import { runMigrations } from '../db/migrate.ts';
import { silentLogger } from '../log.ts';
import { runEnqueue, slotOf } from '../schedule/scheduler.ts';
import { DEMO_LUMA_EVENTS, demoEvents } from './demo-data.ts';
import { freePort, startEmbeddedPostgres } from './embedded-postgres.ts';
import { createFifoQueueWithDlq } from './local-queue.ts';
import { startLocalSqs } from './local-sqs.ts';
import { startLumaSimulator } from './luma-simulator-http.ts';
import { seedDemoDirectory } from './seed.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({ options: { once: { type: 'boolean', default: false } } });
const say = (text: string) => process.stdout.write(`[local] ${text}\n`);
const LUMA_KEY = 'local-dev-key';

say('starting PostgreSQL, SQS and the simulated Luma…');
const postgres = await startEmbeddedPostgres();
const sqsServer = await startLocalSqs();
const luma = await startLumaSimulator({ events: DEMO_LUMA_EVENTS, apiKey: LUMA_KEY });
const database = createDatabase({ url: postgres.url, poolMax: 2 });
const sqs = new SQSClient({
  region: 'us-east-1',
  endpoint: sqsServer.endpoint,
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
let worker: ChildProcess | undefined;

async function stopAll(): Promise<void> {
  if (worker && worker.exitCode === null) {
    worker.kill('SIGTERM');
    await once(worker, 'exit');
  }
  sqs.destroy();
  await database.close();
  await luma.stop();
  await sqsServer.stop();
  await postgres.stop();
}

try {
  const migrated = await runMigrations(postgres.url);
  say(`migrated: ${migrated.applied.join(', ')}`);
  await seedDemoDirectory(database.db);
  const { queueUrl } = await createFifoQueueWithDlq(sqs, 'pl-event-guest-sync');
  const httpPort = await freePort();

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
      HTTP_PORT: String(httpPort),
      LOG_PRETTY: process.env.LOG_PRETTY ?? 'true',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    },
  });
  const exited = once(worker, 'exit');

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
    if (Date.now() > deadline || worker.exitCode !== null) throw new Error('the worker did not sync the demo events');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }

  const rows = await database.db.execute<Record<string, string | null>>(sql`
    SELECT e.name AS event, m.name AS member, m.email, t.name AS team, g."externalGuestId" AS luma_guest
    FROM "PLEventGuest" g JOIN "PLEvent" e ON e.uid = g."eventUid" JOIN "Member" m ON m.uid = g."memberUid"
    LEFT JOIN "Team" t ON t.uid = g."teamUid" ORDER BY e.name, m.name`);
  say(`synced: ${rows.length} guest rows created`);
  console.table(rows.map((r) => ({ ...r })));

  if (values.once) {
    await stopAll();
    process.exit(0);
  }
  say('the worker keeps running; Ctrl-C stops everything');
  process.once('SIGINT', () => say('stopping…'));
  process.once('SIGTERM', () => worker?.kill('SIGTERM'));
  await exited; // the worker shuts itself down on the Ctrl-C it receives with us
  await stopAll();
} catch (err) {
  console.error(`[local] ${(err as Error).message}`);
  await stopAll();
  process.exit(1);
}
