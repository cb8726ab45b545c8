/**
 * Checks the deployment files without a Docker engine: compose.yaml against a vendored
 * subset of the Compose Specification and against src/config.ts, the Dockerfile's
 * stages and runtime contract, the LocalStack init script (run against a stand-in
 * awslocal, its queues then created on the test SQS server), the image's HEALTHCHECK
 * against a live server, and the runtime on a read-only filesystem.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { loadConfig, schemaLeaves } from '../../src/config.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { startHttpServer } from '../../src/http/server.ts';
import { silentLogger } from '../../src/log.ts';
import { DEFAULT_MARGIN_MS } from '../../src/shutdown.ts';
import { createTestSqs } from '../support/sqs-queue.ts';
import { envPairs, execForm, healthcheck, lineage, parseDockerfile, type Stage } from './dockerfile.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

interface Service {
  build?: string | { context?: string; target?: string };
  image?: string;
  command?: string[] | string | null;
  environment?: Record<string, string | number | boolean | null>;
  depends_on?: string[] | Record<string, { condition: string }>;
  restart?: string;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  ports?: Array<string | number>;
  read_only?: boolean;
  tmpfs?: string | string[];
  volumes?: string[];
  stop_grace_period?: string;
  stop_signal?: string;
}
const compose = parseYaml(read('compose.yaml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const dockerfile = parseDockerfile(read('Dockerfile'));
const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };

const stage = (name: string): Stage => {
  const found = dockerfile.stages.find((s) => s.name === name);
  assert.ok(found, `Dockerfile has a stage "${name}"`);
  return found;
};
const runtime = dockerfile.stages.at(-1)!;
const all = (s: Stage, keyword: string) => s.instructions.filter((i) => i.keyword === keyword);
const last = (s: Stage, keyword: string) => all(s, keyword).at(-1);
const target = (service: Service) => (typeof service.build === 'object' ? service.build.target : undefined);
const env = (service: Service): Record<string, string> =>
  Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, v == null ? '' : String(v)]));
const dependsOn = (service: Service): Record<string, string> =>
  Array.isArray(service.depends_on)
    ? Object.fromEntries(service.depends_on.map((name) => [name, 'service_started']))
    : Object.fromEntries(Object.entries(service.depends_on ?? {}).map(([name, d]) => [name, d.condition]));

/** "30s", "1m30s", "500ms" in milliseconds. */
function durationMs(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(n) * units[unit!]!;
  return total;
}

/** Variables the worker's environment may carry that src/config.ts does not read: the AWS SDK reads them. */
const SDK_ENV = new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']);
const REQUIRED_WORKER_ENV = [
  'DATABASE_URL',
  'AWS_REGION',
  'AWS_ENDPOINT_URL_SQS',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'PL_EVENT_GUEST_SYNC_ENABLED',
  'PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED',
  'PL_EVENT_GUEST_SYNC_QUEUE_NAME',
  'LUMA_API_URL',
  'LUMA_API_KEY',
];

describe('compose.yaml', () => {
  it('is valid against the vendored Compose Specification subset', () => {
    const schema = JSON.parse(read('test/deploy/compose-spec.schema.json'));
    const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, strictTuples: false });
    const validate = ajv.compile(schema);
    const valid = validate(compose);
    assert.ok(valid, ajv.errorsText(validate.errors, { separator: '\n' }));
  });

  it('has the six services, and every depends_on names one of them', () => {
    assert.deepEqual(Object.keys(services).sort(), ['localstack', 'luma', 'migrate', 'postgres', 'seed', 'worker']);
    for (const [name, service] of Object.entries(services)) {
      for (const dependency of Object.keys(dependsOn(service))) {
        assert.ok(dependency in services, `${name} depends on unknown service "${dependency}"`);
        assert.notEqual(dependency, name);
      }
    }
  });

  it('builds the worker and migrate from the runtime stage, the simulator from the dev stage', () => {
    const stageNames = new Set(dockerfile.stages.map((s) => s.name));
    for (const [name, service] of Object.entries(services)) {
      const t = target(service);
      if (t !== undefined) assert.ok(stageNames.has(t), `${name} builds target "${t}", not a Dockerfile stage`);
    }
    assert.equal(target(services.worker!), 'runtime');
    assert.equal(target(services.migrate!), 'runtime');
    assert.equal(target(services.luma!), 'dev');
    assert.deepEqual(services.luma!.command, ['src/local/luma-simulator-server.ts']);
    assert.ok(existsSync(path.join(ROOT, 'src/local/luma-simulator-server.ts')));
  });

  it('gives the worker a valid configuration, in variables src/config.ts knows', () => {
    const workerEnv = env(services.worker!);
    for (const name of REQUIRED_WORKER_ENV) assert.ok(workerEnv[name], `worker sets ${name}`);
    const known = new Set(schemaLeaves().map((leaf) => leaf.env));
    for (const name of Object.keys(workerEnv)) {
      assert.ok(known.has(name) || SDK_ENV.has(name), `${name} is neither a config variable nor read by the AWS SDK`);
    }
    const config = loadConfig(workerEnv);
    assert.equal(config.enabled, true);
    assert.equal(config.consumer.enabled, true);
    assert.equal(config.queue.name, 'pl-event-guest-sync');
  });

  it('points the worker at the other services by their names and ports', () => {
    const worker = env(services.worker!);
    const pg = env(services.postgres!);
    const db = new URL(worker.DATABASE_URL!);
    assert.equal(db.hostname, 'postgres');
    assert.equal(decodeURIComponent(db.username), pg.POSTGRES_USER);
    assert.equal(decodeURIComponent(db.password), pg.POSTGRES_PASSWORD);
    assert.equal(db.pathname, `/${pg.POSTGRES_DB}`);
    assert.equal(env(services.migrate!).DATABASE_URL, worker.DATABASE_URL);

    const sqs = new URL(worker.AWS_ENDPOINT_URL_SQS!);
    assert.equal(sqs.hostname, 'localstack');
    assert.equal(sqs.port, '4566');
    assert.match(env(services.localstack!).SERVICES ?? '', /\bsqs\b/);

    const luma = new URL(worker.LUMA_API_URL!);
    assert.equal(luma.hostname, 'luma');
    assert.equal(luma.port, env(services.luma!).LUMA_SIM_PORT);
    assert.equal(worker.LUMA_API_KEY, env(services.luma!).LUMA_SIM_API_KEY, 'the simulator accepts the worker key');

    const containerPorts = (services.worker!.ports ?? []).map((p) => String(p).split(':').at(-1));
    assert.ok(containerPorts.includes(worker.HTTP_PORT ?? '8080'), 'the HTTP port is published');
  });

  it('runs the worker as in production: read-only, /tmp on tmpfs, healthchecked, graceful stop', () => {
    const worker = services.worker!;
    assert.equal(worker.read_only, true);
    assert.ok([worker.tmpfs ?? []].flat().includes('/tmp'));
    assert.deepEqual(worker.command, ['daemon']);
    assert.equal(worker.stop_signal ?? 'SIGTERM', 'SIGTERM');
    const graceMs = Number(env(worker).SHUTDOWN_GRACE_MS ?? 25_000);
    assert.ok(
      durationMs(worker.stop_grace_period ?? '10s') >= graceMs + DEFAULT_MARGIN_MS,
      'stop_grace_period covers SHUTDOWN_GRACE_MS plus the force-exit margin, so the worker exits on its own',
    );
    const imageCheck = healthcheck(last(runtime, 'HEALTHCHECK')!.args).command;
    assert.deepEqual(worker.healthcheck?.test, ['CMD', ...imageCheck], 'same probe as the image');
    assert.deepEqual(dependsOn(worker), {
      seed: 'service_completed_successfully',
      localstack: 'service_healthy',
      luma: 'service_healthy',
    });
  });

  it('seeds the demo directory after the migration, before the worker starts', () => {
    const seed = services.seed!;
    assert.deepEqual(dependsOn(seed), { migrate: 'service_completed_successfully' });
    assert.deepEqual(seed.command, ['src/local/seed-cli.ts']);
    assert.equal(seed.restart, 'no');
  });

  it('migrates once, after PostgreSQL is healthy', () => {
    const migrate = services.migrate!;
    assert.deepEqual(migrate.command, ['db:migrate']);
    assert.deepEqual(dependsOn(migrate), { postgres: 'service_healthy' });
    assert.equal(services.postgres!.image, 'postgres:15');
    assert.match(JSON.stringify(services.postgres!.healthcheck?.test), /pg_isready/);
  });

  it('mounts an executable LocalStack ready hook and waits for the queue it creates', () => {
    const mounts = (services.localstack!.volumes ?? []).map((v) => v.split(':'));
    const hook = mounts.find(([, inside]) => inside?.startsWith('/etc/localstack/init/ready.d/'));
    assert.ok(hook, 'a volume under /etc/localstack/init/ready.d/');
    assert.equal(hook[0], './compose/localstack-init.sh');
    assert.match(hook[1]!, /\.sh$/);
    accessSync(path.join(ROOT, hook[0]), constants.X_OK);
    const queue = `${env(services.worker!).PL_EVENT_GUEST_SYNC_QUEUE_NAME}.fifo`;
    assert.ok(JSON.stringify(services.localstack!.healthcheck?.test).includes(queue));
  });
});

describe('Dockerfile', () => {
  it('ends with the runtime stage, built on Node 24', () => {
    assert.equal(runtime.name, 'runtime');
    const chain = lineage(dockerfile, runtime);
    assert.match(chain.at(-1)!, /^node:24[.-]/, `runtime descends from ${chain.join(' <- ')}`);
    for (const name of ['deps-dev', 'deps-prod', 'dev', 'runtime']) stage(name);
  });

  it('copies production-only node_modules, installed with npm ci --omit=dev', () => {
    const copy = all(runtime, 'COPY').find((c) => /\bnode_modules\b/.test(c.args));
    assert.ok(copy, 'runtime copies node_modules');
    const from = /--from=(\S+)/.exec(copy.args)?.[1];
    assert.ok(from, 'node_modules come from another stage');
    const install = all(stage(from), 'RUN')
      .map((r) => r.args)
      .join('\n');
    assert.match(install, /\bnpm ci\b[^\n]*--omit=dev/);
    assert.ok(pkg.dependencies.tsx, 'tsx is a production dependency: the runtime runs TypeScript through it');
    assert.ok(!all(runtime, 'RUN').some((r) => /\bnpm\b/.test(r.args)), 'no npm install in the final stage');
  });

  it('copies what the worker reads at run time, none of it excluded by .dockerignore', () => {
    const sources = all(runtime, 'COPY')
      .filter((c) => !c.args.includes('--from='))
      .flatMap((c) => c.args.split(/\s+/).slice(0, -1));
    assert.deepEqual(sources.sort(), ['migrations', 'package-lock.json', 'package.json', 'src', 'tsconfig.json']);
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const source of sources) {
      assert.ok(existsSync(path.join(ROOT, source)), `${source} exists`);
      assert.ok(!ignored.some((p) => p === source || source.startsWith(`${p}/`)), `${source} is not ignored`);
    }
    for (const heavy of ['node_modules', '.git']) assert.ok(ignored.includes(heavy), `.dockerignore has ${heavy}`);
  });

  it('runs as a non-root user with NODE_ENV=production and no tsx disk cache', () => {
    const user = last(runtime, 'USER')?.args;
    assert.ok(user, 'the final stage sets USER');
    assert.ok(!['root', '0', '0:0', 'root:root'].includes(user), `USER ${user} is not root`);
    const envs = Object.assign({}, ...all(runtime, 'ENV').map((e) => envPairs(e.args)));
    assert.equal(envs.NODE_ENV, 'production');
    assert.equal(envs.TSX_DISABLE_CACHE, '1');
    assert.ok(all(runtime, 'EXPOSE').some((e) => e.args.split(/\s+/).includes('8080')));
  });

  it('starts node with tsx on src/main.ts, daemon by default, and stops on SIGTERM', () => {
    assert.deepEqual(execForm(last(runtime, 'ENTRYPOINT')!.args), ['node', '--import', 'tsx', 'src/main.ts']);
    assert.deepEqual(execForm(last(runtime, 'CMD')!.args), ['daemon']);
    assert.equal(last(runtime, 'STOPSIGNAL')?.args, 'SIGTERM');
    const check = healthcheck(last(runtime, 'HEALTHCHECK')!.args);
    assert.equal(check.command[0], 'node', 'the slim image has no curl');
    for (const option of ['interval', 'timeout', 'start-period', 'retries']) assert.ok(check.options[option]);
  });

  it('has a HEALTHCHECK that passes against a live /healthz and fails when nothing listens', async () => {
    const [, ...args] = healthcheck(last(runtime, 'HEALTHCHECK')!.args).command;
    // Asynchronous: the server answering the probe runs in this very process.
    const probe = async (port: number) => {
      const child = spawn(process.execPath, args, {
        env: { ...process.env, HTTP_PORT: String(port) },
        stdio: 'ignore',
      });
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    };
    const server = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      metrics: createMetrics(),
      readiness: async () => ({ ready: false, checks: {} }),
      log: silentLogger,
    });
    try {
      assert.equal(await probe(server.port), 0);
    } finally {
      await server.close();
    }
    assert.equal(await probe(server.port), 1);
  });
});

describe('the runtime image contents', () => {
  it('loads src/main.ts through static imports of production dependencies only', () => {
    const entry = path.join(ROOT, 'src/main.ts');
    const seen = new Map<string, string>([[entry, 'src/main.ts']]);
    const queue = [entry];
    const problems: string[] = [];
    while (queue.length > 0) {
      const file = queue.shift()!;
      const via = seen.get(file)!;
      // Static imports and re-exports; `import type` and `export type` are erased, dynamic import() is lazy.
      const pattern = /^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]/gm;
      for (const [, specifier] of readFileSync(file, 'utf8').matchAll(pattern)) {
        if (!specifier) continue;
        if (specifier.startsWith('.')) {
          const resolved = path.resolve(path.dirname(file), specifier);
          if (!seen.has(resolved)) {
            seen.set(resolved, `${via} -> ${path.relative(ROOT, resolved)}`);
            queue.push(resolved);
          }
          continue;
        }
        if (isBuiltin(specifier)) continue;
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
        if (!pkg.dependencies[name]) problems.push(`${name} (a dev or missing dependency) imported by ${via}`);
      }
    }
    assert.deepEqual(problems, [], 'the runtime image installs production dependencies only');
    assert.ok(seen.size > 10, 'the walk followed the imports');
  });

  it('runs on a read-only filesystem with nothing writable, as the runtime stage sets it up', () => {
    // A private mount namespace makes the work tree and the temp dir read-only. Inside a
    // user namespace (--map-root-user) that needs no root, so the check runs for any user;
    // where the kernel refuses namespaces the test fails saying so rather than skipping.
    const probe = spawnSync('unshare', ['--map-root-user', '--mount', 'true'], { encoding: 'utf8' });
    assert.equal(
      probe.status,
      0,
      `cannot make a private mount namespace here (unshare --map-root-user --mount): ${probe.stderr || probe.error}`,
    );
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'lgs-readonly-'));
    after(() => rmSync(tmp, { recursive: true, force: true }));
    const runtimeEnv = Object.assign({}, ...all(runtime, 'ENV').map((e) => envPairs(e.args)));
    const script = [
      'set -e',
      `mount --bind "${ROOT}" "${ROOT}" && mount -o remount,bind,ro "${ROOT}"`,
      `mount --bind "${tmp}" "${tmp}" && mount -o remount,bind,ro "${tmp}"`,
      `if touch "${tmp}/probe" 2>/dev/null || touch "${ROOT}/probe" 2>/dev/null; then echo "still writable"; exit 97; fi`,
      `cd "${ROOT}" && exec "${process.execPath}" --import tsx src/main.ts --help`,
    ].join('\n');
    const run = spawnSync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script], {
      env: { ...process.env, ...runtimeEnv, TMPDIR: tmp },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(run.status, 0, `exit ${run.status}: ${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /^Usage:/m);
  });
});

describe('compose/localstack-init.sh', () => {
  const sqs = createTestSqs();

  it('creates a FIFO DLQ, then the FIFO queue whose redrive policy points at it after 5 receives', async () => {
    const script = path.join(ROOT, 'compose/localstack-init.sh');
    execFileSync('bash', ['-n', script]);

    // A stand-in awslocal that records each call and answers as LocalStack would.
    const bin = mkdtempSync(path.join(os.tmpdir(), 'lgs-awslocal-'));
    after(() => rmSync(bin, { recursive: true, force: true }));
    const calls = path.join(bin, 'calls.jsonl');
    writeFileSync(
      path.join(bin, 'awslocal.mjs'),
      `import { appendFileSync } from 'node:fs';
const args = process.argv.slice(2);
appendFileSync(process.env.LGS_CALLS, JSON.stringify(args) + '\\n');
const opt = (name) => args[args.indexOf(name) + 1];
const base = 'http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/';
if (args[1] === 'create-queue') console.log(JSON.stringify({ QueueUrl: base + opt('--queue-name') }));
if (args[1] === 'get-queue-url') console.log(base + opt('--queue-name'));
if (args[1] === 'get-queue-attributes') console.log('arn:aws:sqs:us-east-1:000000000000:' + opt('--queue-url').split('/').pop());
`,
    );
    writeFileSync(
      path.join(bin, 'awslocal'),
      `#!/bin/sh\nexec "$LGS_NODE" "${path.join(bin, 'awslocal.mjs')}" "$@"\n`,
      {
        mode: 0o755,
      },
    );
    const out = execFileSync('bash', [script], {
      env: { PATH: `${bin}:${process.env.PATH}`, LGS_CALLS: calls, LGS_NODE: process.execPath },
      encoding: 'utf8',
    });
    assert.match(out, /created pl-event-guest-sync\.fifo/);

    const recorded = readFileSync(calls, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as string[]);
    const creates = recorded
      .filter((args) => args[0] === 'sqs' && args[1] === 'create-queue')
      .map((args) => ({
        name: args[args.indexOf('--queue-name') + 1]!,
        attributes: JSON.parse(args[args.indexOf('--attributes') + 1]!) as Record<string, string>,
      }));
    assert.deepEqual(
      creates.map((c) => c.name),
      ['pl-event-guest-sync-dlq.fifo', 'pl-event-guest-sync.fifo'],
      'the DLQ first, so its ARN exists for the redrive policy',
    );
    const [dlq, main] = creates as [(typeof creates)[0], (typeof creates)[0]];
    assert.equal(dlq.attributes.FifoQueue, 'true', 'a FIFO queue needs a FIFO DLQ');
    assert.equal(main.attributes.FifoQueue, 'true');
    assert.equal(main.attributes.ContentBasedDeduplication, 'false');
    assert.equal(main.attributes.VisibilityTimeout, '120');
    const redrive = JSON.parse(main.attributes.RedrivePolicy!) as {
      deadLetterTargetArn: string;
      maxReceiveCount: string;
    };
    assert.equal(redrive.deadLetterTargetArn, 'arn:aws:sqs:us-east-1:000000000000:pl-event-guest-sync-dlq.fifo');
    assert.equal(Number(redrive.maxReceiveCount), 5);

    // The same attributes, sent to a real SQS-compatible server, make the queues they describe.
    const suffix = randomBytes(4).toString('hex');
    const rename = (name: string) => name.replace('pl-event-guest-sync', `lgs-init-${suffix}`);
    const { QueueUrl: dlqUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: rename(dlq.name), Attributes: dlq.attributes }),
    );
    const { Attributes: dlqAttributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
    );
    const policy = JSON.stringify({ ...redrive, deadLetterTargetArn: dlqAttributes!.QueueArn });
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({
        QueueName: rename(main.name),
        Attributes: { ...main.attributes, RedrivePolicy: policy },
      }),
    );
    const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
    assert.equal(Attributes.FifoQueue, 'true');
    assert.equal(Attributes.VisibilityTimeout, '120');
    assert.equal(JSON.parse(Attributes.RedrivePolicy!).deadLetterTargetArn, dlqAttributes!.QueueArn);
  });
});
