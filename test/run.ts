/**
 * `npm test`: starts the real servers the tests need, runs every test file with
 * node:test, and stops the servers. PostgreSQL comes from DATABASE_URL when set
 * (each test file creates its own database on it, so the role needs CREATEDB);
 * otherwise a throwaway embedded PostgreSQL is started. An SQS-compatible server
 * (fauxqs) is always started on a free loopback port, and so is Debian's pgbouncer in
 * transaction mode in front of that PostgreSQL (the run fails at once, saying how to
 * install it, when the binary is missing).
 *
 *   npm test                          every file under test/ (benchmarks and test/ops/ excluded)
 *   npm test -- test/config.test.ts   just the files given
 */
import { spawn } from 'node:child_process';
import { globSync } from 'node:fs';
import { type LocalPostgres, startEmbeddedPostgres } from '../src/local/embedded-postgres.ts';
import { startLocalSqs } from '../src/local/local-sqs.ts';
import { pgbouncerBinary, startPgBouncer } from '../src/local/pgbouncer.ts';
import { assertCanCreateDatabases } from './support/db.ts';
import { TEST_ENV } from './support/env.ts';

const args = process.argv.slice(2);
const files =
  args.length > 0
    ? args
    : globSync('test/**/*.test.ts')
        .filter((f) => !f.startsWith('test/bench/') && !f.startsWith('test/ops/'))
        .sort();

try {
  pgbouncerBinary();
} catch (err) {
  console.error(`npm test: ${(err as Error).message}`);
  process.exit(1);
}
if (process.env.DATABASE_URL) {
  try {
    await assertCanCreateDatabases(process.env.DATABASE_URL);
  } catch (err) {
    console.error(`npm test: ${(err as Error).message}`);
    process.exit(1);
  }
}
const postgres: LocalPostgres | undefined = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres();
const adminUrl = process.env.DATABASE_URL || postgres!.url;
const sqs = await startLocalSqs();
let pgbouncer: Awaited<ReturnType<typeof startPgBouncer>>;
try {
  pgbouncer = await startPgBouncer(adminUrl);
} catch (err) {
  console.error(`npm test: ${(err as Error).message}`);
  await sqs.stop();
  await postgres?.stop();
  process.exit(1);
}

const child = spawn(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=180000', ...files], {
  stdio: 'inherit',
  env: {
    ...process.env,
    [TEST_ENV.adminDatabaseUrl]: adminUrl,
    [TEST_ENV.sqsEndpoint]: sqs.endpoint,
    [TEST_ENV.pgbouncerUrl]: pgbouncer.url,
  },
});
const forward = (signal: NodeJS.Signals) => child.kill(signal);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
const code: number = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));

await pgbouncer.stop();
await sqs.stop();
await postgres?.stop();
process.exit(code);
