import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { TEST_ENV, testEnv } from '../support/env.ts';

const role = `lgs_no_createdb_${randomBytes(4).toString('hex')}`;
const password = 'no-createdb-password';
const admin = postgres(testEnv('adminDatabaseUrl'), { max: 1, onnotice: () => {} });

/** The admin URL with the limited role's credentials. */
function limitedUrl(): string {
  const url = new URL(testEnv('adminDatabaseUrl'));
  url.username = role;
  url.password = password;
  url.pathname = '/postgres';
  return url.toString();
}

/**
 * Runs a node command to its exit. A hang is what this guards against, so the child is
 * killed after a minute and reported as hung — a bound on a hang, not a speed check.
 */
async function runToExit(args: string[], env: Record<string, string>) {
  // Without the runner's NODE_TEST_CONTEXT the child reports and exits as a run of its own.
  const { NODE_TEST_CONTEXT: _, ...outer } = process.env;
  const child = spawn(process.execPath, args, { env: { ...outer, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child.kill('SIGKILL');
  }, 60_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  assert.equal(hung, false, `still running after a minute:\n${output}`);
  return { code, output };
}

describe('a test database role without CREATEDB', () => {
  before(() => admin.unsafe(`CREATE ROLE "${role}" LOGIN NOCREATEDB PASSWORD '${password}'`));
  after(async () => {
    await admin.unsafe(`DROP ROLE IF EXISTS "${role}"`);
    await admin.end();
  });

  it('fails a test file at once, saying the role needs CREATEDB', async () => {
    const { code, output } = await runToExit(['--test', 'test/fixtures/creates-test-database.ts'], {
      [TEST_ENV.adminDatabaseUrl]: limitedUrl(),
    });
    assert.notEqual(code, 0);
    assert.match(output, /the role in DATABASE_URL needs CREATEDB \(ALTER ROLE <role> CREATEDB\)/);
    assert.ok(!output.includes(password), 'the password stays out of the output');
  });

  it('stops `npm test` before any test file runs, with the same reason', async () => {
    const { code, output } = await runToExit(['test/run.ts', 'test/errors.test.ts'], {
      DATABASE_URL: limitedUrl(),
    });
    assert.equal(code, 1);
    assert.match(output, /^npm test: The test database role may not create databases/m);
    assert.doesNotMatch(output, /ℹ tests/, 'no test file ran');
    assert.ok(!output.includes(password), 'the password stays out of the output');
  });
});
