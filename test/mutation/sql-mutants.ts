/**
 * `npm run test:mutation:sql`: hand-written mutants of the SQL that is the logic (Stryker
 * only blanks a whole statement, see ignore-sql-and-messages.ts). Each entry of
 * test/mutation/sql-mutants.json replaces one piece of text in one source file; the runner
 * applies them one at a time in a copy of the project (the work tree is never touched),
 * runs the listed test files against one PostgreSQL and SQS server started for the whole
 * run, and reports each mutant killed (a test failed) or survived. Exits 1 when any survived.
 *
 *   npm run test:mutation:sql                      every entry
 *   npm run test:mutation:sql -- tier-due          entries whose id or file contains "tier-due"
 *   npm run test:mutation:sql -- tier-due --tests test/schedule/tier-tick.test.ts
 *                                                  against these test files instead of the listed ones
 *
 * The report is written to reports/mutation/sql-mutants.json.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import { startLocalSqs } from '../../src/local/local-sqs.ts';
import { startPgBouncer } from '../../src/local/pgbouncer.ts';
import { assertCanCreateDatabases } from '../support/db.ts';
import { TEST_ENV } from '../support/env.ts';
import { testsReaching } from './related-tests.ts';

export interface HandMutant {
  /** Short and unique: file stem and what changes. */
  id: string;
  file: string;
  /** Text that occurs exactly once in the file. */
  find: string;
  replace: string;
  /** The behaviour the mutant breaks, i.e. why a test must fail. */
  why: string;
  /** Test files to run; by default every test file that imports the file. */
  tests?: string[];
}

interface Outcome {
  id: string;
  file: string;
  status: 'killed' | 'survived' | 'timeout';
  seconds: number;
  why: string;
}

const root = process.cwd();
const PER_MUTANT_TIMEOUT_MS = 10 * 60_000;

export function loadMutants(file = path.join(root, 'test/mutation/sql-mutants.json')): HandMutant[] {
  const mutants = JSON.parse(readFileSync(file, 'utf8')) as HandMutant[];
  const ids = new Set<string>();
  for (const m of mutants) {
    if (ids.has(m.id)) throw new Error(`sql-mutants.json: id ${m.id} appears twice`);
    ids.add(m.id);
    const source = readFileSync(path.join(root, m.file), 'utf8');
    const count = source.split(m.find).length - 1;
    if (count !== 1) throw new Error(`sql-mutants.json ${m.id}: "find" occurs ${count} times in ${m.file}, not once`);
  }
  return mutants;
}

/** A copy of the project to mutate, sharing node_modules. */
function makeSandbox(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lgs-sql-mutants-'));
  const skip = new Set(['node_modules', '.git', 'reports', '.stryker-tmp', '.local', '.tmp']);
  cpSync(root, dir, { recursive: true, filter: (src) => !skip.has(path.relative(root, src).split(path.sep)[0]!) });
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

/** Runs the test files; with `logFile`, their report goes there (else it is dropped). */
function runTests(
  cwd: string,
  files: string[],
  env: NodeJS.ProcessEnv,
  logFile?: string,
): Promise<'passed' | 'failed' | 'timeout'> {
  const log = logFile ? openSync(logFile, 'w') : 'ignore';
  const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=180000', ...files], {
    cwd,
    env,
    stdio: ['ignore', log, log],
  });
  if (typeof log === 'number') closeSync(log);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('timeout');
    }, PER_MUTANT_TIMEOUT_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0 ? 'passed' : 'failed');
    });
  });
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { tests: { type: 'string' } } });
  const filter = positionals[0];
  const mutants = loadMutants().filter((m) => !filter || m.id.includes(filter) || m.file.includes(filter));
  if (mutants.length === 0) throw new Error(`no mutant matches ${filter}`);
  const override = values.tests?.split(',').filter(Boolean);

  if (process.env.DATABASE_URL) await assertCanCreateDatabases(process.env.DATABASE_URL);
  const postgres = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres();
  const sqs = await startLocalSqs();
  const adminUrl = process.env.DATABASE_URL || postgres!.url;
  // The claims tests run syncs through a PgBouncer too, as under `npm test`.
  const pgbouncer = await startPgBouncer(adminUrl);
  const sandbox = makeSandbox();
  const env = {
    ...process.env,
    [TEST_ENV.adminDatabaseUrl]: adminUrl,
    [TEST_ENV.sqsEndpoint]: sqs.endpoint,
    [TEST_ENV.pgbouncerUrl]: pgbouncer.url,
  };
  const outcomes: Outcome[] = [];
  try {
    const testsOf = (m: HandMutant) => override ?? m.tests ?? testsReaching(root, [m.file]);
    // The unmutated code must pass the same tests, or a "kill" would mean nothing.
    const baseline = [...new Set(mutants.flatMap(testsOf))];
    console.log(`baseline: ${baseline.length} test files`);
    // Its report is kept: a test that fails only under load shows here and nowhere else.
    const baselineLog = path.join(root, 'reports/mutation/sql-baseline.log');
    mkdirSync(path.dirname(baselineLog), { recursive: true });
    if ((await runTests(sandbox, baseline, env, baselineLog)) !== 'passed') {
      throw new Error(
        `the unmutated code fails ${baseline.join(' ')} (report: ${path.relative(root, baselineLog)}): fix that first (npm test -- those files)`,
      );
    }
    for (const m of mutants) {
      const target = path.join(sandbox, m.file);
      const original = readFileSync(target, 'utf8');
      writeFileSync(target, original.replace(m.find, m.replace));
      const started = performance.now();
      try {
        const result = await runTests(sandbox, testsOf(m), env);
        const status = result === 'passed' ? 'survived' : result === 'timeout' ? 'timeout' : 'killed';
        const seconds = Math.round((performance.now() - started) / 1000);
        outcomes.push({ id: m.id, file: m.file, status, seconds, why: m.why });
        console.log(`${status.padEnd(8)} ${m.id} (${seconds} s)${status === 'survived' ? `: ${m.why}` : ''}`);
      } finally {
        writeFileSync(target, original);
      }
    }
  } finally {
    rmSync(sandbox, { recursive: true, force: true });
    await pgbouncer.stop();
    await sqs.stop();
    await postgres?.stop();
  }
  const killed = outcomes.filter((o) => o.status !== 'survived').length;
  console.log(`${killed} of ${outcomes.length} SQL mutants killed`);
  mkdirSync(path.join(root, 'reports/mutation'), { recursive: true });
  writeFileSync(path.join(root, 'reports/mutation/sql-mutants.json'), `${JSON.stringify(outcomes, null, 2)}\n`);
  return killed === outcomes.length ? 0 : 1;
}

if (import.meta.main) process.exit(await main());
