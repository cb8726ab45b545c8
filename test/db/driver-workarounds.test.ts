/**
 * The postgres.js behaviours the worker works around, shown on the driver alone (no
 * worker code), so that a driver upgrade that fixes one fails here and names the
 * workaround that may then go. docs/driver-workarounds.md has each with its upstream
 * report. What the worker does about them is tested where it does it
 * (lost-connection-followups, pipelined-pages, driver-rejections).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import postgres from 'postgres';
import { createTestDatabase } from '../support/db.ts';
import { within } from '../support/faults.ts';

const database = await createTestDatabase({ label: 'driver_workarounds', migrate: false });
const { sql: admin } = database;

/** A pool of one connection, as bare as the driver makes it. */
function poolOfOne() {
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  after(() => sql.end({ timeout: 1 }));
  return sql;
}

async function terminate(pid: number): Promise<void> {
  const [row] = await admin<{ ok: boolean }[]>`SELECT pg_terminate_backend(${pid}) AS ok`;
  assert.equal(row?.ok, true, `backend ${pid} terminated`);
}

/**
 * Runs `script` (an ES module, the database's URL in URL) in a Node process of its own:
 * the faults below are thrown outside any promise and end the process they happen in.
 */
async function runInChild(script: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, URL: database.url },
  });
  after(() => child.kill('SIGKILL'));
  let out = '';
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk) => (out += chunk));
  const code = await within(
    'the child to end',
    new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode))),
  );
  return { code, out };
}

const FIXED = (what: string, workaround: string) =>
  `postgres.js no longer ${what}: ${workaround} may be simpler now (docs/driver-workarounds.md)`;

describe('postgres.js, as pinned in package-lock.json', () => {
  it("fails the replacement connection's first statement with the error the server ended the last one with", async () => {
    const sql = poolOfOne();
    const [{ pid } = { pid: 0 }] = await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    // Terminated while a statement runs: its FATAL arrives before the socket closes.
    const running = sql`SELECT pg_sleep(30)`.then(
      () => new Error('pg_sleep(30) was answered: the session was not terminated'),
      (err: unknown) => err as Error,
    );
    await within(
      'the statement to run',
      (async () => {
        for (;;) {
          const [row] = await admin<{ n: number }[]>`
            SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ${pid} AND query LIKE '%pg_sleep%'`;
          if (row?.n === 1) return;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })(),
    );
    await terminate(pid);
    // The FATAL is kept for the statement's ReadyForQuery, which never comes: the socket's
    // close fails the statement instead, and the FATAL stays.
    const first = await within('the running statement to fail', running);
    assert.equal((first as { code?: string }).code, 'CONNECTION_CLOSED', first.message);

    // Sent on the pool's next connection, which the server has never seen end.
    const next = await sql`SELECT 1 AS one`.then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    assert.ok(next, FIXED('fails the next statement with the last session’s FATAL', 'repeat-on-connection-loss.ts'));
    assert.equal((next as { code?: string }).code, '57P01');
    assert.match(next.message, /terminating connection due to administrator command/);
    // The statement never reached the server: the one after it runs, on a fresh session.
    const [again] = await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    assert.notEqual(again?.pid, pid);
  });

  it('throws from its own write when a statement is sent on a reserved connection whose session ended', async () => {
    // In a child: the exception is thrown from the driver's write, which no promise of the
    // caller's can catch, and the statement is never answered. Sent once the driver has
    // seen the connection close (sent before, it would fail as a plain lost statement).
    const script = `
      import postgres from 'postgres';
      let closed;
      const seenClosed = new Promise((resolve) => (closed = resolve));
      const sql = postgres(process.env.URL, { max: 1, onnotice: () => {}, onclose: () => closed() });
      const admin = postgres(process.env.URL, { max: 1 });
      const reserved = await sql.reserve();
      const [{ pid }] = await reserved\`SELECT pg_backend_pid() AS pid\`;
      await admin\`SELECT pg_terminate_backend(\${pid})\`;
      await seenClosed;
      await reserved\`SELECT 1\`.then(() => console.log('answered'), (err) => console.log('rejected', err.code));
      process.exit(0);
    `;
    const { code, out } = await runInChild(script);
    assert.doesNotMatch(
      out,
      /answered|rejected/,
      FIXED('throws from a lost reserved connection', 'page-connection.ts (a lost reservation sends nothing more)'),
    );
    assert.notEqual(code, 0);
    assert.match(out, /TypeError: Cannot read properties of null \(reading 'write'\)/, out);
  });
  it('throws from its own write when a transaction sends on after its session ended', async () => {
    // As above, in a child. The body's next statement after the close stands for every
    // write sql.begin makes on its connection (COMMIT, ROLLBACK): each meets the same fault.
    const script = `
      import postgres from 'postgres';
      let closed;
      const seenClosed = new Promise((resolve) => (closed = resolve));
      const sql = postgres(process.env.URL, { max: 1, onnotice: () => {}, onclose: () => closed() });
      const admin = postgres(process.env.URL, { max: 1 });
      await sql.begin(async (tx) => {
        const [{ pid }] = await tx\`SELECT pg_backend_pid() AS pid\`;
        await admin\`SELECT pg_terminate_backend(\${pid})\`;
        await seenClosed;
        await tx\`SELECT 1\`;
      }).then(() => console.log('committed'), (err) => console.log('rejected', err.code));
      // sql.begin rejects at the close; the body's write is thrown a turn later.
      setTimeout(() => process.exit(0), 500);
    `;
    const { code, out } = await runInChild(script);
    assert.match(
      out,
      /TypeError: Cannot read properties of null \(reading 'write'\)/,
      `${FIXED('throws from a transaction whose connection closed', 'closed-transaction-guard.ts')}\n${out}`,
    );
    assert.notEqual(code, 0);
  });
});
