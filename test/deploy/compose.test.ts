/**
 * compose.yaml, checked without a container engine: valid against the upstream Compose
 * Specification schema (vendored unchanged in test/deploy/compose-spec.schema.json, its
 * source in compose-spec.SOURCE.md), and consistent with the Dockerfile, src/config/ and
 * the other services. `npm run test:container` builds and runs the image itself.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { loadConfig, schemaLeaves } from '../../src/config/config.ts';
import { DEFAULT_MARGIN_MS } from '../../src/shutdown.ts';
import { COMPOSE_SPEC_FILE, validateCompose } from './compose-schema.ts';
import { healthcheck, parseDockerfile } from './dockerfile.ts';

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
const runtime = dockerfile.stages.at(-1)!;
const imageHealthcheck = runtime.instructions.filter((i) => i.keyword === 'HEALTHCHECK').at(-1);
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

/** Variables the worker's environment may carry that src/config/ does not read: the AWS SDK reads them. */
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
  it('is valid against the upstream Compose Specification schema', () => {
    assert.deepEqual(validateCompose(parseYaml(read('compose.yaml'), { merge: true })), []);
  });

  it('would fail that schema with a misspelt key or a wrongly typed value', () => {
    const broken = parseYaml(read('compose.yaml'), { merge: true }) as { services: Record<string, Service> };
    Object.assign(broken.services.worker!, { stop_grace_periode: '30s', read_only: 1 });
    const problems = validateCompose(broken).join('\n');
    assert.match(problems, /additionalProperty":"stop_grace_periode"/);
    assert.match(problems, /read_only must be boolean,string/);
  });

  it('vendors the upstream schema unchanged, as compose-spec.SOURCE.md records it', () => {
    const recorded = /SHA-256 of the vendored file: `([0-9a-f]{64})`/.exec(read('test/deploy/compose-spec.SOURCE.md'));
    assert.ok(recorded, 'compose-spec.SOURCE.md records the hash');
    const actual = createHash('sha256').update(readFileSync(COMPOSE_SPEC_FILE)).digest('hex');
    assert.equal(actual, recorded[1]);
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

  it('gives the worker a valid configuration, in variables src/config/ knows', () => {
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
    const imageCheck = healthcheck(imageHealthcheck!.args).command;
    // Compose substitutes ${...} in the file; $$ is its escape for a literal $.
    const composeCheck = [worker.healthcheck?.test ?? []].flat().map((arg) => arg.replaceAll('$$', '$'));
    assert.deepEqual(composeCheck, ['CMD', ...imageCheck], 'same probe as the image');
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

  it("publishes no PostgreSQL port, so it never clashes with a developer's own", () => {
    assert.deepEqual(services.postgres!.ports ?? [], []);
    for (const [name, service] of Object.entries(services)) {
      for (const port of service.ports ?? []) {
        assert.notEqual(String(port).split(':').at(-2), '5432', `${name} publishes host port 5432`);
      }
    }
  });

  it('names a LocalStack release that starts without an auth token (4.14.0 or older)', () => {
    const [, major, minor] = /^localstack\/localstack:(\d+)\.(\d+)\.\d+$/.exec(services.localstack!.image ?? '') ?? [];
    assert.ok(major, `"${services.localstack!.image}" is an exact LocalStack version, not a moving tag such as latest`);
    assert.ok(Number(major) < 4 || (Number(major) === 4 && Number(minor) <= 14), services.localstack!.image);
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
    assert.equal(hook[0], './deploy/localstack-init.sh');
    assert.match(hook[1]!, /\.sh$/);
    accessSync(path.join(ROOT, hook[0]), constants.X_OK);
    const queue = `${env(services.worker!).PL_EVENT_GUEST_SYNC_QUEUE_NAME}.fifo`;
    assert.ok(JSON.stringify(services.localstack!.healthcheck?.test).includes(queue));
  });
});
