import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freePort } from '../src/local/free-port.ts';
import { runCliProcess } from './support/cli-process.ts';
import { createTestDatabase, withDatabase } from './support/db.ts';
import { testEnv } from './support/env.ts';
import { seedEvent } from './support/seed.ts';

/** What a command's failure must never show: SQL text or its parameters. */
function assertNoSql(stderr: string) {
  assert.doesNotMatch(stderr, /Failed query|select |insert |params:/i, `SQL text in:\n${stderr}`);
}

const base = { LUMA_API_KEY: 'test-key', LOG_LEVEL: 'warn' };

describe('one-shot commands name the root cause of a failure', () => {
  it('a refused connection: the host and port, for sync and enqueue', async () => {
    const port = await freePort();
    const env = { ...base, DATABASE_URL: `postgres://lgs:pw@127.0.0.1:${port}/directory` };
    for (const args of [
      ['sync', '--event', 'evt-1'],
      ['enqueue', '--dry-run'],
    ]) {
      const run = await runCliProcess(args, env);
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        run.stderr,
        new RegExp(`cannot connect to the database at 127\\.0\\.0\\.1:${port}: connection refused`),
      );
      assertNoSql(run.stderr);
    }
  });

  it('a Unix socket that is not there: its path', async () => {
    const run = await runCliProcess(['sync', '--event', 'evt-1'], {
      ...base,
      DATABASE_URL: 'postgresql:///directory?host=/nonexistent/pg&port=5439',
    });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /no PostgreSQL server socket at \/nonexistent\/pg\/\.s\.PGSQL\.5439/);
    assertNoSql(run.stderr);
  });

  it('a table that is not there: which one, and to run db:migrate', async () => {
    const empty = await createTestDatabase({ migrate: false, label: 'cli_err_empty' });
    const run = await runCliProcess(['sync', '--event', 'evt-1'], { ...base, DATABASE_URL: empty.url });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /relation "PLEvent" does not exist/);
    assert.match(run.stderr, /run `luma-guest-sync db:migrate`/);
    assertNoSql(run.stderr);
  });

  it('a privilege the database user lacks: what was denied', async () => {
    const database = await createTestDatabase({ label: 'cli_err_denied' });
    const event = await seedEvent(database.db);
    const role = `lgs_reader_${database.name.slice(-8)}`;
    await database.sql.unsafe(`CREATE ROLE "${role}" LOGIN PASSWORD 'reader-pw'`);
    const url = new URL(withDatabase(testEnv('adminDatabaseUrl'), database.name));
    url.username = role;
    url.password = 'reader-pw';
    const run = await runCliProcess(['sync', '--event', event.uid], { ...base, DATABASE_URL: url.toString() });
    await database.sql.unsafe(`DROP OWNED BY "${role}"; DROP ROLE "${role}"`);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /permission denied for table "?PLEvent"?/);
    assert.match(run.stderr, new RegExp(`database user "${role}"`));
    assertNoSql(run.stderr);
  });

  it('sync --event without LUMA_API_KEY names the variable, before connecting', async () => {
    const run = await runCliProcess(['sync', '--event', 'evt-1'], {
      DATABASE_URL: 'postgres://lgs:pw@127.0.0.1:1/directory',
    });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /LUMA_API_KEY: is required by sync/);
  });
});
