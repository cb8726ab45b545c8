/**
 * How the worker loads its code (src/drizzle-as-commonjs.ts): main.ts loads no package of its
 * own, so `--help` costs only Node's start and runCli can make drizzle-orm load as CommonJS
 * before anything imports it; the process then holds drizzle's CommonJS build only, one copy.
 * The memory and time this saves are `npm run bench`'s scenario 13.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runCliProcess } from '../support/cli-process.ts';
import { createTestDatabase } from '../support/db.ts';
import { importGraph } from '../support/import-graph.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PROBE = path.join(ROOT, 'test/startup/drizzle-files-probe.ts');

/** The drizzle-orm files a CLI run resolved, as drizzle-files-probe.ts reports them. */
function drizzleFiles(stderr: string): string[] {
  const line = stderr.split('\n').find((l) => l.startsWith('drizzle-files '));
  assert.ok(line, `no drizzle-files line in: ${stderr}`);
  return JSON.parse(line.slice('drizzle-files '.length)) as string[];
}

describe('loading', () => {
  it('main.ts imports no package when it loads: each command imports its own when it runs', () => {
    const { packages, files } = importGraph(path.join(ROOT, 'src/main.ts'), { dynamic: false });
    assert.deepEqual(packages, [], 'a package main.ts loads up front (--help would pay for it)');
    assert.deepEqual([...files.keys()].map((f) => path.relative(ROOT, f)).sort(), [
      'src/cli/usage.ts',
      'src/drizzle-as-commonjs.ts',
      'src/main.ts',
    ]);
  });

  it("the daemon's modules load got only when a Luma request is made", () => {
    // got and its dependencies hold ~11 MB; a daemon at rest never calls Luma (docs/memory.md).
    const { packages } = importGraph(path.join(ROOT, 'src/daemon.ts'), { dynamic: false });
    assert.deepEqual(
      packages.filter((p) => p.specifier === 'got'),
      [],
      'got imported when the daemon loads',
    );
  });

  it("loading the daemon's modules loads no undici (an ES import of node:http would)", async () => {
    // Node builds node:http's ES facade by reading every export, and three of them are lazy
    // getters that load undici: ~13 MB the daemon never uses (src/http/node-http.ts).
    const script = `
      import { loadDrizzleAsCommonJs } from './src/drizzle-as-commonjs.ts';
      loadDrizzleAsCommonJs();
      await import('./src/daemon.ts');
      process.stdout.write(JSON.stringify(process.moduleLoadList.filter((m) => m.includes('undici'))));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
    });
    assert.deepEqual(JSON.parse(stdout), []);
  });

  it('a command run loads drizzle-orm as CommonJS only, never its ES build', async () => {
    // db:migrate loads drizzle's client, its migration-file reader and errors: against a real, empty database,
    // since a refused connection now ends every command at its first reach of the database
    // (src/db/probe.ts), before the migrator is loaded.
    const database = await createTestDatabase({ migrate: false, label: 'lazy_loading' });
    const run = await runCliProcess(['db:migrate'], {
      DATABASE_URL: database.url,
      NODE_OPTIONS: `--import=${PROBE}`,
    });
    assert.equal(run.code, 0, run.stderr);
    const files = drizzleFiles(run.stderr);
    assert.ok(files.includes('migrator.cjs'), `drizzle's migrator, as CommonJS: ${files.join(', ')}`);
    assert.deepEqual(
      files.filter((f) => !f.endsWith('.cjs')),
      [],
      'drizzle ES module files loaded beside the CommonJS ones: two copies of drizzle',
    );
  });

  it('--help resolves no drizzle-orm file', async () => {
    const run = await runCliProcess(['--help'], { NODE_OPTIONS: `--import=${PROBE}` });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(drizzleFiles(run.stderr), []);
  });

  it("the source's imports of drizzle-orm and require('drizzle-orm') then give the same classes", async () => {
    // errors.ts tells a database failure by `instanceof DrizzleQueryError`: a second copy of
    // drizzle would make every failed statement an "unexpected" error.
    const script = `
      import { createRequire } from 'node:module';
      import { loadDrizzleAsCommonJs } from './src/drizzle-as-commonjs.ts';
      loadDrizzleAsCommonJs();
      const { errorKind } = await import('./src/errors.ts');
      const { DrizzleQueryError } = createRequire(import.meta.url)('drizzle-orm');
      process.stdout.write(errorKind(new DrizzleQueryError('SELECT 1', [], new Error('boom'))));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
    });
    assert.equal(stdout, 'database');
  });
});
