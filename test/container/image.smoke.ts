/**
 * `npm run test:container`: builds the runtime image with whichever container engine is
 * present (podman or docker) and runs it as production would, against a real
 * PostgreSQL, a local SQS server and the simulated Luma on this machine's loopback
 * (the containers use the host's network). Not part of `npm test`: it needs an engine
 * and the base image, and a first build downloads the dependencies.
 *
 * Prints the image size, the time to ready and the idle memory as test diagnostics.
 * LGS_SMOKE_IMAGE=<ref> tests an image built elsewhere instead of building one (the
 * type-error build still runs).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SQSClient } from '@aws-sdk/client-sqs';
import { sql } from 'drizzle-orm';
import { createDatabase, type Database } from '../../src/db/client.ts';
import { DRIVER_FIXES } from '../../src/db/driver-fixes.ts';
import { DEMO_LUMA_EVENTS, demoEvents } from '../../src/local/demo-data.ts';
import { type LocalPostgres, startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import { freePort } from '../../src/local/free-port.ts';
import { createFifoQueueWithDlq } from '../../src/local/local-queue.ts';
import { type LocalSqs, startLocalSqs } from '../../src/local/local-sqs.ts';
import { type RunningLumaSimulator, startLumaSimulator } from '../../src/local/luma-simulator-http.ts';
import { seedDemoDirectory } from '../../src/local/seed.ts';
import { silentLogger } from '../../src/log.ts';
import { runEnqueue, slotOf } from '../../src/schedule/scheduler.ts';
import { waitFor } from '../support/sqs-queue.ts';
import { buildFlags, type Engine, findEngine, readOnlyFlags } from './engine.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const IMAGE = process.env.LGS_SMOKE_IMAGE || 'luma-guest-sync:smoke';
const GRACE_MS = 20_000;
const LUMA_KEY = 'smoke-key';
const engine = findEngine();

if (!engine) {
  console.log(
    'container smoke test SKIPPED: no working container engine (`podman info` and `docker info` both failed). ' +
      'Install podman or docker to run it; see docs/deploying.md.',
  );
}

describe('the runtime image', { skip: engine ? false : 'no container engine (podman or docker)' }, () => {
  const e = engine as Engine;
  const suffix = randomBytes(4).toString('hex');
  const containers: string[] = [];
  let postgres: LocalPostgres;
  let sqsServer: LocalSqs;
  let luma: RunningLumaSimulator;
  let database: Database;
  let sqs: SQSClient;
  let daemon = '';
  let httpPort = 0;
  let queueUrl = '';

  before(async () => {
    postgres = await startEmbeddedPostgres();
    sqsServer = await startLocalSqs();
    luma = await startLumaSimulator({ events: DEMO_LUMA_EVENTS, apiKey: LUMA_KEY });
    database = createDatabase({ url: postgres.url, poolMax: 2 });
    sqs = new SQSClient({
      region: 'us-east-1',
      endpoint: sqsServer.endpoint,
      credentials: { accessKeyId: 'smoke', secretAccessKey: 'smoke' },
    });
  });

  after(async () => {
    for (const name of containers) await e.status(['rm', '--force', name]);
    sqs?.destroy();
    await database?.close();
    await luma?.stop();
    await sqsServer?.stop();
    await postgres?.stop();
  });

  it('builds the runtime target without pulling anything but npm packages', { timeout: 1_800_000 }, async (t) => {
    const started = performance.now();
    if (!process.env.LGS_SMOKE_IMAGE)
      await e.exec(['build', ...buildFlags(e), '--target', 'runtime', '--tag', IMAGE, ROOT], {
        timeoutMs: 1_800_000,
      });
    const [info] = JSON.parse((await e.exec(['image', 'inspect', IMAGE])).stdout) as Array<{ Size: number }>;
    t.diagnostic(`built in ${((performance.now() - started) / 1000).toFixed(1)} s; image ${mb(info!.Size)} MB`);
  });

  it('runs as a numeric, non-root uid:gid', async () => {
    const user = (await e.exec(['image', 'inspect', '--format', '{{.Config.User}}', IMAGE])).stdout.trim();
    const match = /^(\d+):(\d+)$/.exec(user);
    assert.ok(match, `USER is "${user}", not a numeric uid:gid (Kubernetes' runAsNonRoot cannot verify a name)`);
    assert.notEqual(match[1], '0', 'not root');
    const id = (await e.exec(['run', '--rm', '--network', 'none', '--entrypoint', 'id', IMAGE])).stdout;
    assert.match(id, new RegExp(`^uid=${match[1]}\\b.* gid=${match[2]}\\b`));
  });

  it('holds no transpiler and no dev dependency: node runs src/main.ts itself, in production mode', async () => {
    const [info] = JSON.parse((await e.exec(['image', 'inspect', IMAGE])).stdout) as Array<{
      Config: { Entrypoint: string[]; Env: string[] };
    }>;
    assert.deepEqual(info!.Config.Entrypoint, ['node', 'src/main.ts']);
    assert.ok(info!.Config.Env.includes('NODE_ENV=production'));
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const unwanted = ['tsx', 'esbuild', ...Object.keys(pkg.devDependencies)];
    const check = `const fs = require('node:fs'); console.log(JSON.stringify(${JSON.stringify(unwanted)}.filter((m) => fs.existsSync('node_modules/' + m))))`;
    const found = await e.exec(['run', '--rm', '--network', 'none', '--entrypoint', 'node', IMAGE, '-e', check]);
    assert.deepEqual(JSON.parse(found.stdout), [], 'none of these is installed in the image');
  });

  it('carries both fixes of the database driver in every build of the driver', async () => {
    // The production install skips install scripts; the Dockerfile runs the fixes by name.
    const markers = JSON.stringify(DRIVER_FIXES.map((fix) => fix.marker));
    const check = `const fs = require('node:fs'); console.log(JSON.stringify(['src', 'cjs/src', 'cf/src'].map((b) => { const t = fs.readFileSync('node_modules/postgres/' + b + '/connection.js', 'utf8'); return ${markers}.map((m) => t.split(m).length - 1); })))`;
    const found = await e.exec(['run', '--rm', '--network', 'none', '--entrypoint', 'node', IMAGE, '-e', check]);
    const expected = DRIVER_FIXES.map((fix) => fix.lines);
    assert.deepEqual(JSON.parse(found.stdout), [expected, expected, expected], 'every line of each fix, in each build');
  });

  it("loads every command's modules from the compile cache built into the image, stripping no types", async () => {
    // Node's type stripper keeps ~18 MB resident once loaded; the image's cache spares it.
    const run = await e.status([
      'run',
      '--rm',
      ...readOnlyFlags(e),
      '--network',
      'none',
      '--env',
      'NODE_DEBUG_NATIVE=COMPILE_CACHE',
      '--entrypoint',
      'node',
      IMAGE,
      'src/warm-compile-cache.ts',
    ]);
    assert.equal(run.code, 0, `${run.stdout}${run.stderr}`);
    const log = run.stdout + run.stderr;
    const misses = log.split('\n').filter((line) => line.includes('no transpile cache for StrippedTypeScript'));
    assert.deepEqual(misses, [], 'modules stripped at run time');
    const hits = log.match(/retrieving transpile cache for StrippedTypeScript \S+\.\.\.success/g) ?? [];
    assert.ok(hits.length > 20, `only ${hits.length} modules came from the cache`);
  });

  it('migrates with a read-only root filesystem and nothing writable', async () => {
    const name = `lgs-smoke-migrate-${suffix}`;
    containers.push(name);
    const run = await e.status([
      'run',
      '--name',
      name,
      ...readOnlyFlags(e),
      '--network',
      'host',
      '--env',
      `DATABASE_URL=${postgres.url}`,
      IMAGE,
      'db:migrate',
    ]);
    assert.equal(run.code, 0, `db:migrate exited ${run.code}:\n${run.stdout}\n${run.stderr}`);
    const [row] = await database.db.execute<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'PLEventGuest'`,
    );
    assert.equal(row?.n, 1, 'the migration created the directory tables');
  });

  it('starts the daemon read-only; it becomes ready', { timeout: 180_000 }, async (t) => {
    await seedDemoDirectory(database.db);
    ({ queueUrl } = await createFifoQueueWithDlq(sqs, `lgs-smoke-${suffix}`));
    httpPort = await freePort();
    daemon = `lgs-smoke-daemon-${suffix}`;
    containers.push(daemon);
    const env = {
      DATABASE_URL: postgres.url,
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_SQS: sqsServer.endpoint,
      AWS_ACCESS_KEY_ID: 'smoke',
      AWS_SECRET_ACCESS_KEY: 'smoke',
      PL_EVENT_GUEST_SYNC_ENABLED: 'true',
      PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED: 'true',
      PL_EVENT_GUEST_SYNC_QUEUE_URL: queueUrl,
      PL_EVENT_GUEST_SYNC_WAIT_TIME_SECONDS: '1',
      LUMA_API_URL: luma.url,
      LUMA_API_KEY: LUMA_KEY,
      HTTP_PORT: String(httpPort),
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
    };
    const started = performance.now();
    await e.exec([
      'run',
      '--detach',
      '--name',
      daemon,
      ...readOnlyFlags(e),
      '--network',
      'host',
      ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
      IMAGE,
    ]);
    await waitFor(() => readyz(httpPort).then((s) => s === 200), 60_000, 'GET /readyz to answer 200');
    t.diagnostic(`ready (/readyz 200) ${Math.round(performance.now() - started)} ms after \`${e.name} run\``);
  });

  it('reports the idle memory of the worker', async (t) => {
    assert.ok(daemon, 'the daemon container runs');
    // A figure, not a check: sampled once a second for 5 s after ready, the smallest reported.
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const status = (await e.exec(['exec', daemon, 'cat', '/proc/1/status'])).stdout;
      samples.push(Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]));
    }
    assert.ok(
      samples.every((kb) => kb > 0),
      `VmRSS samples ${samples}`,
    );
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const heapBytes = Number(/^lgs_nodejs_heap_size_used_bytes (\S+)$/m.exec(metrics)?.[1]);
    t.diagnostic(
      `idle RSS of the worker (pid 1) before any work: ${(Math.min(...samples) / 1024).toFixed(1)} MB ` +
        `(V8 heap in use: ${(heapBytes / 2 ** 20).toFixed(1)} MB)`,
    );
  });

  it('syncs the demo events', { timeout: 180_000 }, async () => {
    assert.ok(daemon, 'the daemon container runs');
    const report = await runEnqueue({ db: database.db, sqs, queueUrl, log: silentLogger }, slotOf(new Date()));
    assert.ok(report.enqueued > 0);
    const uids = demoEvents().map((event) => event.uid);
    await waitFor(
      async () => {
        const [row] = await database.db.execute<{ pending: number }>(sql`
          SELECT count(*)::int AS pending FROM "PLEvent"
          WHERE uid = ANY(${sql.param(uids)}::text[]) AND "guestLastSyncedAt" IS NULL`);
        return row?.pending === 0;
      },
      60_000,
      'the containerised worker to sync every demo event',
    );
    const processes = (await e.exec(['exec', daemon, 'sh', '-c', 'cat /proc/[0-9]*/comm'])).stdout;
    assert.doesNotMatch(processes, /esbuild/, 'no transpiler child process');
  });

  it('reports healthy through the image HEALTHCHECK', { timeout: 120_000 }, async () => {
    assert.ok(daemon, 'the daemon container runs');
    if (e.name === 'podman') {
      // podman schedules health checks through systemd timers; run one now instead.
      const check = await e.status(['healthcheck', 'run', daemon]);
      assert.equal(check.code, 0, `healthcheck run: ${check.stdout}${check.stderr}`);
    }
    await waitFor(async () => (await healthStatus(e, daemon)) === 'healthy', 90_000, 'health status "healthy"');
  });

  it('exits 0 on SIGTERM, well within the shutdown grace', { timeout: 120_000 }, async (t) => {
    assert.ok(daemon, 'the daemon container runs');
    const started = performance.now();
    // A stop timeout far past the grace: an exit code of 0 means the worker exited by itself.
    await e.exec(['stop', '--time', '90', daemon], { timeoutMs: 120_000 });
    const ms = performance.now() - started;
    const code = (await e.exec(['inspect', '--format', '{{.State.ExitCode}}', daemon])).stdout.trim();
    const logs = await e.exec(['logs', daemon]);
    assert.equal(code, '0', `exit code ${code}; logs:\n${logs.stdout}${logs.stderr}`);
    assert.ok(ms < GRACE_MS, `stopped after ${Math.round(ms)} ms: an idle worker does not wait out the grace`);
    assert.match(logs.stdout + logs.stderr, /"msg":"shutdown complete"/);
    t.diagnostic(`stopped in ${Math.round(ms)} ms`);
  });

  it('refuses to build when the source has a type error', { timeout: 1_800_000 }, async () => {
    const context = mkdtempSync(path.join(os.tmpdir(), 'lgs-smoke-context-'));
    after(() => rmSync(context, { recursive: true, force: true }));
    const copied = ['Dockerfile', '.dockerignore', 'package.json', 'package-lock.json', 'tsconfig.json'];
    for (const entry of [
      ...copied,
      'drizzle.config.ts',
      'migrations',
      'src',
      'test',
      'deploy/postgres-driver-fix.mjs',
    ]) {
      cpSync(path.join(ROOT, entry), path.join(context, entry), { recursive: true });
    }
    writeFileSync(path.join(context, 'src/type-error.ts'), "export const port: number = 'eighty';\n");
    const build = await e.status(['build', ...buildFlags(e), '--target', 'runtime', context], {
      timeoutMs: 1_800_000,
    });
    assert.notEqual(build.code, 0, 'the build failed');
    assert.match(build.stdout + build.stderr, /src\/type-error\.ts.*TS2322/);
  });
});

async function readyz(port: number): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3_000) })).status;
  } catch {
    return 0;
  }
}

async function healthStatus(e: Engine, name: string): Promise<string | undefined> {
  const [info] = JSON.parse((await e.exec(['inspect', name])).stdout) as Array<{
    State: { Health?: { Status?: string }; Healthcheck?: { Status?: string } };
  }>;
  return info?.State.Health?.Status ?? info?.State.Healthcheck?.Status;
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(0);
