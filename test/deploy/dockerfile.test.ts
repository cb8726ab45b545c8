/**
 * What the container smoke test (`npm run test:container`, test/container/) cannot prove
 * about the Dockerfile, checked on every `npm test`, engine or not: nothing in it makes
 * BuildKit reach Docker Hub, `docker build .` with no target gives the runtime image, the
 * HEALTHCHECK also fails when nothing answers, and every module the worker imports is a
 * production dependency (the image installs no others).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createMetrics } from '../../src/http/metrics.ts';
import { startHttpServer } from '../../src/http/server.ts';
import { silentLogger } from '../../src/log.ts';
import { importGraph, packageName } from '../support/import-graph.ts';
import { healthcheck, parseDockerfile } from './dockerfile.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const text = read('Dockerfile');
const dockerfile = parseDockerfile(text);
const runtime = dockerfile.stages.at(-1)!;
const last = (keyword: string) => runtime.instructions.filter((i) => i.keyword === keyword).at(-1);
const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };

describe('Dockerfile', () => {
  it('has no parser directive that makes BuildKit fetch a frontend image', () => {
    // podman ignores `# syntax=`, so the smoke test's build cannot catch it; docker would
    // pull docker/dockerfile from Docker Hub and fail offline.
    assert.doesNotMatch(text, /^#\s*syntax\s*=/im);
  });

  it('ends with the runtime stage on Node 24, so a build without --target makes the runtime image', () => {
    assert.equal(runtime.name, 'runtime');
    let from = runtime.from;
    for (let stage = dockerfile.stages.find((s) => s.name === from); stage; ) {
      from = stage.from;
      stage = dockerfile.stages.find((s) => s.name === from);
    }
    assert.match(from, /^node:24[.-]/, `the runtime stage descends from ${from}`);
  });

  it('has a HEALTHCHECK that starts no second Node process (it runs every 15 s beside the worker)', () => {
    const [program] = healthcheck(last('HEALTHCHECK')!.args).command;
    assert.notEqual(path.basename(program!), 'node');
  });

  it('has a HEALTHCHECK that passes against a live /healthz and fails on an error status or when nothing listens', async () => {
    const [program, ...args] = healthcheck(last('HEALTHCHECK')!.args).command;
    // Asynchronous: the server answering the probe runs in this very process.
    const probe = async (port: number) => {
      const child = spawn(program!, args, {
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
    // Something listens but /healthz is not 200 (another process took the port, a proxy's 502).
    const failing = createServer((_request, response) => response.writeHead(503).end('no'));
    failing.listen(0, '127.0.0.1');
    await once(failing, 'listening');
    try {
      assert.equal(await probe((failing.address() as AddressInfo).port), 1);
    } finally {
      failing.close();
    }
  });
});

describe('the runtime image contents', () => {
  it('loads src/main.ts and every module its commands import of production dependencies only', () => {
    // With its dynamic import()s: main.ts loads each command's modules when the command runs.
    const { files, packages } = importGraph(path.join(ROOT, 'src/main.ts'), { dynamic: true });
    const problems = packages
      .filter(({ specifier }) => !pkg.dependencies[packageName(specifier)])
      .map(({ specifier, via }) => `${packageName(specifier)} (a dev or missing dependency) imported by ${via}`);
    assert.deepEqual(problems, [], 'the runtime image installs production dependencies only');
    assert.ok(files.has(path.join(ROOT, 'src/daemon.ts')), 'the walk followed the imports to the daemon');
    assert.ok(files.size > 10, 'the walk followed the imports');
    const local = [...files].filter(([file]) => file.startsWith(path.join(ROOT, 'src/local/'))).map(([, via]) => via);
    assert.deepEqual(local, [], 'the worker imports nothing from src/local/, which the runtime image leaves out');
  });

  it('copies the source without src/local/, the development tools', () => {
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY' && /\s\.\/src$/.test(i.args));
    assert.equal(copies.length, 1, 'one COPY of the source into the runtime image');
    const from = /--from=(\S+)/.exec(copies[0]!.args)?.[1];
    const stage = dockerfile.stages.find((s) => s.name === from);
    assert.ok(stage, `the runtime image copies src/ from a stage of this Dockerfile, not ${from ?? 'the context'}`);
    assert.ok(
      stage.instructions.some((i) => i.keyword === 'RUN' && /rm -rf src\/local\b/.test(i.args)),
      `stage ${from} removes src/local/`,
    );
  });

  it('fills the compile cache as the user and with the ENV the runtime stage runs with', () => {
    // Node names the cache's directory by uid, and V8 rejects code cached under other flags:
    // a cache filled otherwise is never read, and the type stripper loads after all.
    const stage = dockerfile.stages.find((s) => s.name === 'compile-cache');
    assert.ok(stage, 'a compile-cache stage');
    const envOf = (s: typeof runtime) =>
      Object.fromEntries(
        s.instructions
          .filter((i) => i.keyword === 'ENV')
          .flatMap((i) => [...i.args.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]])),
      );
    assert.deepEqual(envOf(stage), envOf(runtime));
    const warm = stage.instructions.findIndex(
      (i) => i.keyword === 'RUN' && i.args.includes('src/warm-compile-cache.ts'),
    );
    assert.ok(warm >= 0, 'the stage runs src/warm-compile-cache.ts');
    const userAt = (s: typeof runtime, before: number) =>
      s.instructions
        .slice(0, before)
        .filter((i) => i.keyword === 'USER')
        .at(-1)?.args;
    assert.equal(userAt(stage, warm), last('USER')!.args);
    assert.ok(
      runtime.instructions.some((i) => i.keyword === 'COPY' && /--from=compile-cache\s/.test(i.args)),
      'the runtime stage copies the cache',
    );
  });

  it('runs on a read-only filesystem with nothing writable, engine or not', () => {
    // The smoke test runs the image read-only; this runs the same entrypoint where no engine
    // is. A private mount namespace makes the work tree and the temp dir read-only. Inside a
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
    const script = [
      'set -e',
      `mount --bind "${ROOT}" "${ROOT}" && mount -o remount,bind,ro "${ROOT}"`,
      `mount --bind "${tmp}" "${tmp}" && mount -o remount,bind,ro "${tmp}"`,
      `if touch "${tmp}/probe" 2>/dev/null || touch "${ROOT}/probe" 2>/dev/null; then echo "still writable"; exit 97; fi`,
      `cd "${ROOT}" && exec "${process.execPath}" src/main.ts --help`,
    ].join('\n');
    const run = spawnSync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script], {
      env: { ...process.env, NODE_ENV: 'production', TMPDIR: tmp },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(run.status, 0, `exit ${run.status}: ${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /^Usage:/m);
  });
});
