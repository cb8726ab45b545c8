/**
 * `npm run test:mutation`: Stryker over the core modules, with PostgreSQL and the SQS
 * server started once for the whole run (each test file still makes its own database and
 * queues on them, as under `npm test`). See docs/mutation.md.
 *
 *   npm run test:mutation                                    every core module (hours on 2 cores)
 *   npm run test:mutation -- src/webhooks/delivery.ts        one module, with the tests that reach it
 *   npm run test:mutation -- --incremental src/sync/x.ts     reuse reports/mutation/stryker-incremental.json
 *   npm run test:mutation -- --tests test/a.test.ts src/b.ts  these test files only
 *
 * Any other `--option` goes to Stryker as it is (e.g. --concurrency 2, --force, --dryRunOnly).
 */
import { spawn } from 'node:child_process';
import { startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import { startLocalSqs } from '../../src/local/local-sqs.ts';
import { startPgBouncer } from '../../src/local/pgbouncer.ts';
import { assertCanCreateDatabases } from '../support/db.ts';
import { TEST_ENV } from '../support/env.ts';
import { mutationTestFiles, testsReaching } from './related-tests.ts';

const root = process.cwd();
/** Stryker's options that take no value. */
const STRYKER_FLAGS = new Set([
  '--incremental',
  '--force',
  '--dryRunOnly',
  '--ignoreStatic',
  '--inPlace',
  '--allowEmpty',
]);
const modules: string[] = [];
const tests: string[] = [];
const strykerArgs: string[] = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const arg = args[i]!;
  if (arg === '--tests') {
    tests.push(...(args[++i] ?? '').split(',').filter(Boolean));
  } else if (arg.startsWith('--')) {
    strykerArgs.push(arg);
    // An option with a value (--concurrency 2) keeps it; a flag (--incremental) takes none.
    const next = args[i + 1];
    if (!STRYKER_FLAGS.has(arg) && !arg.includes('=') && next !== undefined && !next.startsWith('-')) {
      strykerArgs.push(args[++i]!);
    }
  } else if (arg.startsWith('test/')) {
    tests.push(arg);
  } else {
    modules.push(arg);
  }
}

// A module may carry a line range (src/x.ts:10-20); the graph needs the file.
const testFiles =
  tests.length > 0
    ? tests
    : modules.length > 0
      ? testsReaching(
          root,
          modules.map((m) => m.replace(/:[\d:-]+$/, '')),
        )
      : mutationTestFiles(root);
if (testFiles.length === 0) {
  console.error(`test:mutation: no test file reaches ${modules.join(', ')}`);
  process.exit(1);
}
console.error(
  `test:mutation: ${modules.length > 0 ? modules.join(', ') : 'every core module'}; ${testFiles.length} test files`,
);

if (process.env.DATABASE_URL) await assertCanCreateDatabases(process.env.DATABASE_URL);
const postgres = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres();
const adminUrl = process.env.DATABASE_URL || postgres!.url;
const sqs = await startLocalSqs();
// The claims tests run syncs through a PgBouncer too, as under `npm test`.
const pgbouncer = await startPgBouncer(adminUrl);

const stryker = new URL('../../node_modules/@stryker-mutator/core/bin/stryker.js', import.meta.url);
const child = spawn(process.execPath, [stryker.pathname, 'run', 'stryker.config.mjs', ...strykerArgs], {
  stdio: 'inherit',
  // A group of its own: on Ctrl-C or SIGTERM the whole group is signalled, Stryker's worker
  // processes and the test file they run included (signalled alone, Stryker leaves them behind).
  detached: true,
  env: {
    ...process.env,
    [TEST_ENV.adminDatabaseUrl]: adminUrl,
    [TEST_ENV.sqsEndpoint]: sqs.endpoint,
    [TEST_ENV.pgbouncerUrl]: pgbouncer.url,
    LGS_MUTATION_TEST_FILES: JSON.stringify(testFiles),
    ...(modules.length > 0 ? { LGS_MUTATION_MUTATE: JSON.stringify(modules) } : {}),
  },
});
const forward = (signal: NodeJS.Signals) => {
  if (child.pid !== undefined) process.kill(-child.pid, signal);
};
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
const code: number = await new Promise((done) => child.on('exit', (c, signal) => done(c ?? (signal ? 1 : 0))));

await pgbouncer.stop();
await sqs.stop();
await postgres?.stop();
process.exit(code);
