/**
 * startPgBouncer resolves once PgBouncer itself listens on its port, and only then: the
 * first client, connecting at once, is served. These run in a process whose sockets msw
 * intercepts (the simulated Luma, as in every sync test file), where a socket reports
 * "connect" before any real connection exists, so a port probe that waits for "connect"
 * passes whether anything listens or not (docs/poolers.md, "The PgBouncer the tests start").
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import postgres from 'postgres';
import { freePort } from '../../src/local/free-port.ts';
import { type LocalPgBouncer, pgbouncerBinary, startPgBouncer } from '../../src/local/pgbouncer.ts';
import { createTestDatabase, withDatabase } from '../support/db.ts';
import { testEnv } from '../support/env.ts';
import { until } from '../support/faults.ts';
import { useSimulatedLuma } from '../support/sync-harness.ts';

useSimulatedLuma();
const database = await createTestDatabase({ migrate: false, label: 'pgbouncer_start' });
const owner = withDatabase(testEnv('adminDatabaseUrl'), database.name);
// A login role of its own, not a superuser, as the worker's role is.
const role = `lgs_bouncer_${database.name.slice(-8)}`;
await database.sql.unsafe(`CREATE ROLE "${role}" LOGIN PASSWORD '${role}-pw'`);
after(async () => {
  // The database's own client is closed by now: roles are the cluster's, dropped from another.
  const cluster = postgres(testEnv('adminDatabaseUrl'), { max: 1, onnotice: () => {} });
  await cluster.unsafe(`DROP ROLE IF EXISTS "${role}"`).finally(() => cluster.end());
});
const workerUrl = (() => {
  const url = new URL(owner);
  url.username = role;
  url.password = `${role}-pw`;
  return url.toString();
})();

/** Runs `SELECT current_user` through the PgBouncer at once: its answer, or the error. */
async function firstQuery(bouncer: LocalPgBouncer): Promise<string> {
  const sql = postgres(bouncer.url, { max: 1, prepare: false, onnotice: () => {} });
  try {
    const [row] = await sql<{ user: string }[]>`SELECT current_user AS user`;
    return row?.user ?? '';
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  } finally {
    await sql.end();
  }
}

/** A pgbouncer that takes `seconds` to start: a script that waits, then runs the real one. */
async function slowPgBouncerBinary(seconds: number): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lgs-slow-pgbouncer-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'pgbouncer');
  await writeFile(script, `#!/bin/sh\nsleep ${seconds}\nexec ${pgbouncerBinary()} "$@"\n`);
  await chmod(script, 0o755);
  return script;
}

/** A listener of another process's kind on `port`; counts the connections it gets. */
async function squat(port: number): Promise<{ connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return { connections: () => connections, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Ends the PgBouncer process from its admin console, behind its handle's back. */
async function shutDown(bouncer: LocalPgBouncer): Promise<void> {
  const adminUrl = new URL(bouncer.url);
  adminUrl.pathname = '/pgbouncer';
  const sql = postgres(adminUrl.toString(), { max: 1, prepare: false, fetch_types: false, onnotice: () => {} });
  // The connection closes under the command: that is the answer.
  await assert.rejects(sql.unsafe('SHUTDOWN'), /CONNECTION_CLOSED/);
  await sql.end({ timeout: 0 });
}

describe('startPgBouncer', () => {
  for (const [login, url] of [
    ['a login role (the worker)', workerUrl],
    ['the owner', owner],
  ] as const) {
    test(`as ${login}: the first client, connecting as soon as it resolves, is served, five starts in five`, async () => {
      const expected = new URL(url).username;
      const answers: string[] = [];
      for (let i = 0; i < 5; i++) {
        const bouncer = await startPgBouncer(url);
        try {
          answers.push(await firstQuery(bouncer));
        } finally {
          await bouncer.stop();
        }
      }
      assert.deepEqual(answers, Array(5).fill(expected));
    });
  }

  test('waits for a PgBouncer slow to start (half a second before it listens)', async () => {
    const previous = process.env.PGBOUNCER_BIN;
    process.env.PGBOUNCER_BIN = await slowPgBouncerBinary(0.5);
    let bouncer: LocalPgBouncer;
    try {
      bouncer = await startPgBouncer(workerUrl);
    } finally {
      if (previous === undefined) delete process.env.PGBOUNCER_BIN;
      else process.env.PGBOUNCER_BIN = previous;
    }
    try {
      assert.equal(await firstQuery(bouncer), role);
    } finally {
      await bouncer.stop();
    }
  });

  test('a port taken between its choice and the bind: PgBouncer starts on another, the taker gets nothing', async () => {
    const taken = await freePort();
    const taker = await squat(taken);
    after(() => taker.close());
    const offered: number[] = [];
    const bouncer = await startPgBouncer(workerUrl, {}, async () => {
      const port = offered.length === 0 ? taken : await freePort();
      offered.push(port);
      return port;
    });
    try {
      assert.equal(offered.length, 2, `ports offered: ${offered}`);
      assert.equal(bouncer.port, offered[1]);
      assert.equal(await firstQuery(bouncer), role);
      assert.equal(taker.connections(), 0, 'nothing connected to the other process');
    } finally {
      await bouncer.stop();
    }
  });

  test('a restart whose port another process took meanwhile fails, naming the port, instead of sending clients there', async () => {
    const bouncer = await startPgBouncer(workerUrl);
    after(() => bouncer.stop());
    // PgBouncer's own SHUTDOWN: the process ends and frees the port, which the taker then takes.
    await shutDown(bouncer);
    let taker: Awaited<ReturnType<typeof squat>> | undefined;
    await until('the port freed and taken', async () => {
      taker = await squat(bouncer.port).catch(() => undefined);
      return taker !== undefined;
    });
    after(() => taker?.close());
    await assert.rejects(bouncer.restart(), new RegExp(`127\\.0\\.0\\.1:${bouncer.port} is in use by another process`));
    assert.equal(taker?.connections(), 0, 'nothing connected to the other process');
  });
});
