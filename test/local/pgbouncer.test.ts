import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import postgres from 'postgres';
import { PGBOUNCER_MISSING, pgbouncerBinary } from '../../src/local/pgbouncer.ts';
import { createTestDatabase, withDatabase } from '../support/db.ts';
import { within } from '../support/faults.ts';
import { startTestPgBouncer, viaPgBouncer } from '../support/pgbouncer.ts';

describe('the PgBouncer the tests start', () => {
  test('pools in transaction mode: a session SET does not follow the client to its next transaction', async () => {
    const database = await createTestDatabase({ migrate: false, label: 'pgbouncer' });
    // Two clients, one server connection: each client's statements land on whichever is free.
    const bouncer = await startTestPgBouncer({ defaultPoolSize: 1 });
    const a = postgres(withDatabase(bouncer.url, database.name), { max: 1, prepare: false, onnotice: () => {} });
    const b = postgres(withDatabase(bouncer.url, database.name), { max: 1, prepare: false, onnotice: () => {} });
    try {
      await a`SET statement_timeout = '12345ms'`;
      const [seen] = await b<{ statement_timeout: string }[]>`SHOW statement_timeout`;
      assert.equal(seen?.statement_timeout, '12345ms', 'client b got the server connection client a changed');
      const [pidA] = await a<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      const [pidB] = await b<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      assert.equal(pidA?.pid, pidB?.pid);
    } finally {
      await a.end();
      await b.end();
    }
  });

  test('refuses a startup setting it does not track, as a stock PgBouncer does', async () => {
    const database = await createTestDatabase({ migrate: false, label: 'pgbouncer' });
    const sql = postgres(viaPgBouncer(database.name), {
      max: 1,
      prepare: false,
      connection: { enable_seqscan: 'off' },
      onnotice: () => {},
    });
    try {
      await assert.rejects(sql`SELECT 1`, /unsupported startup parameter: enable_seqscan/);
    } finally {
      await sql.end();
    }
  });

  test('takes the DNS and server-check settings it is given (the DNS measurement sets them: test/measure/pgbouncer-dns.measure.ts)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lgs-resolv-'));
    after(() => rm(dir, { recursive: true, force: true }));
    await chmod(dir, 0o755);
    const resolvConf = path.join(dir, 'resolv.conf');
    await writeFile(resolvConf, 'nameserver 127.0.0.1\n', { mode: 0o644 });
    const bouncer = await startTestPgBouncer({ resolvConf, dnsMaxTtl: 3, dnsZoneCheckPeriod: 7, serverCheckDelay: 0 });
    const config = Object.fromEntries((await bouncer.admin('SHOW CONFIG')).map((row) => [row.key, row.value]));
    assert.deepEqual(
      [config.resolv_conf, config.dns_max_ttl, config.dns_zone_check_period, config.server_check_delay],
      [resolvConf, '3', '7', '0'],
    );
  });

  test('stops and restarts on the same port', async () => {
    const database = await createTestDatabase({ migrate: false, label: 'pgbouncer' });
    const bouncer = await startTestPgBouncer();
    const sql = postgres(withDatabase(bouncer.url, database.name), { max: 1, prepare: false, onnotice: () => {} });
    try {
      assert.deepEqual([...(await sql`SELECT 1 AS one`)], [{ one: 1 }]);
      await bouncer.restart();
      // The client's old connection died with the old process; postgres.js opens a new one.
      await sql`SELECT 1`.catch(() => {});
      assert.deepEqual([...(await sql`SELECT 2 AS two`)], [{ two: 2 }]);
    } finally {
      await sql.end();
    }
  });

  test("an admin command that ends the console's connection (SHUTDOWN) returns once PgBouncer is gone; the console then fails saying so", async () => {
    const database = await createTestDatabase({ migrate: false, label: 'pgbouncer' });
    const bouncer = await startTestPgBouncer();
    const [version] = await bouncer.admin('SHOW VERSION');
    assert.match(Object.values(version ?? {}).join(' '), /PgBouncer/);
    // An error of the command itself passes through as PgBouncer said it.
    await assert.rejects(bouncer.admin('SHOW NO_SUCH_THING'), { message: /^invalid command 'SHOW NO_SUCH_THING'/ });

    // Bounded (it takes milliseconds): before, it waited forever for the connection's end.
    const outcome = await within("admin('SHUTDOWN') to return", bouncer.admin('SHUTDOWN'));
    assert.deepEqual(outcome, [], 'SHUTDOWN answers no rows');

    const sql = postgres(withDatabase(bouncer.url, database.name), { max: 1, prepare: false, onnotice: () => {} });
    try {
      await assert.rejects(sql`SELECT 1`, /ECONNREFUSED/, 'nothing listens any more');
      await assert.rejects(bouncer.admin('SHOW VERSION'), {
        message:
          /^PgBouncer's admin console was lost during "SHOW VERSION" \(.*ECONNREFUSED.*\): is PgBouncer running\?$/,
      });
      await bouncer.restart();
      assert.deepEqual([...(await sql`SELECT 1 AS one`)], [{ one: 1 }], 'restarted after SHUTDOWN');
    } finally {
      await sql.end();
    }
  });

  test('a missing binary fails with how to install it', () => {
    assert.throws(() => pgbouncerBinary({ PGBOUNCER_BIN: '/nonexistent/pgbouncer' }), { message: PGBOUNCER_MISSING });
  });
});
