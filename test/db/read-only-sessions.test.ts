/**
 * The round that ends a pool's read-only sessions (src/db/read-only-sessions.ts), at its
 * edges: a writable pool keeps its sessions, busy connections neither hold the round up
 * nor lose their slot, and behind a transaction-mode PgBouncer nothing is ended. The
 * switchover itself is test/db/switchover.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import postgres from 'postgres';
import { createDatabase, type Database } from '../../src/db/client.ts';
import { endReadOnlySessions, endReadOnlySessionsAfter, type ReadOnlyRound } from '../../src/db/read-only-sessions.ts';
import { freePort } from '../../src/local/embedded-postgres.ts';
import { createTestDatabase } from '../support/db.ts';
import { testEnv } from '../support/env.ts';
import { until, within } from '../support/faults.ts';
import { viaPgBouncer } from '../support/pgbouncer.ts';
import { tripwireToDatabase } from '../support/tripwire-link.ts';

const directory = await createTestDatabase({ migrate: false, label: 'read_only_sessions' });
const admin = postgres(testEnv('adminDatabaseUrl'), { max: 1, onnotice: () => {} });
after(() => admin.end());

/** The backend pids of `pool`'s `n` connections, each made to open by a statement held 50 ms. */
async function pidsOf(pool: Database, n: number): Promise<number[]> {
  const rows = await Promise.all(
    Array.from({ length: n }, () => pool.sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid, pg_sleep(0.05)`),
  );
  return rows.map(([row]) => row?.pid ?? 0).sort();
}

async function sessionsOfDatabase(): Promise<number[]> {
  const rows = await admin<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity WHERE datname = ${directory.name} AND backend_type = 'client backend' ORDER BY pid`;
  return rows.map((r) => r.pid);
}

async function readOnlyDatabase<T>(run: () => Promise<T>): Promise<T> {
  await admin.unsafe(`ALTER DATABASE "${directory.name}" SET default_transaction_read_only = on`);
  try {
    return await run();
  } finally {
    await admin.unsafe(`ALTER DATABASE "${directory.name}" RESET default_transaction_read_only`);
  }
}

describe("ending a pool's read-only sessions", () => {
  it('on a writable server ends nothing: it asks each idle session once, stopping at the first asked again, and the pool keeps them all', async () => {
    const rounds: ReadOnlyRound[] = [];
    let asked = 0;
    const pool = createDatabase({
      url: directory.url,
      poolMax: 3,
      onReadOnlyRound: (r) => rounds.push(r),
      onQuery: (q) => void (q.includes('idle_session_timeout') && asked++),
    });
    try {
      const before = await pidsOf(pool, 3);
      assert.deepEqual(await endReadOnlySessions(pool.sql), { ended: 0 });
      assert.equal(asked, 4, 'three sessions, then the first again');
      assert.deepEqual(await pidsOf(pool, 3), before);
      assert.deepEqual(rounds, [{ ended: 0 }]);
    } finally {
      await pool.close();
    }
  });

  it('after an error: a refusal by a read-only server starts a round, any other error none', async () => {
    const rounds: ReadOnlyRound[] = [];
    const pool = createDatabase({ url: directory.url, poolMax: 2, onReadOnlyRound: (r) => rounds.push(r) });
    const refusal = await readOnlyDatabase(() =>
      pool.sql`CREATE TEMPORARY TABLE refused (id int) ON COMMIT DROP`.then(
        () => undefined,
        (err: unknown) => err,
      ),
    );
    try {
      assert.equal((refusal as { code?: string })?.code, '25006');
      await endReadOnlySessionsAfter(pool.sql, new Error('not the database'));
      await endReadOnlySessionsAfter(
        pool.sql,
        Object.assign(new Error('timeout'), { name: 'PostgresError', code: '57014' }),
      );
      assert.equal(rounds.length, 0, 'no round');
      await endReadOnlySessionsAfter(pool.sql, refusal);
      assert.equal(rounds.length, 1);
      assert.ok((rounds[0]?.ended ?? 0) >= 1, 'the session opened read-only ended');
    } finally {
      await pool.close();
    }
  });

  it('leaves a pool that createDatabase did not make alone', async () => {
    const other = postgres(directory.url, { max: 1, onnotice: () => {} });
    try {
      await readOnlyDatabase(async () => {
        const [before] = await other<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
        assert.deepEqual(await endReadOnlySessions(other), { ended: 0 });
        const [after] = await other<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
        assert.equal(after?.pid, before?.pid);
      });
    } finally {
      await other.end();
    }
  });

  it('on a read-only server ends the idle sessions, and the pool serves as many statements at once as before', async () => {
    const pool = createDatabase({ url: directory.url, poolMax: 3 });
    try {
      await readOnlyDatabase(async () => {
        const before = await pidsOf(pool, 3);
        // Its waits bounded at a minute: the round moves on when each ended session closes.
        const round = await within('the round', endReadOnlySessions(pool.sql, { waitMs: 60_000 }));
        // Every session it reserves is read-only, the new ones too: it stops after 2 × max + 1.
        assert.deepEqual(round, { ended: 7 });
        const after = await pidsOf(pool, 3);
        assert.equal(
          after.filter((pid) => before.includes(pid)).length,
          0,
          'no session of before is left: the pool connected anew',
        );
      });
      // The setting removed, one more round renews the sessions opened under it: writable now.
      await within('the round', endReadOnlySessions(pool.sql));
      const [row] = await pool.sql<
        { read_only: string }[]
      >`SELECT current_setting('transaction_read_only') AS read_only`;
      assert.equal(row?.read_only, 'off');
    } finally {
      await pool.close();
    }
  });

  it('goes on past a session lost during its question: the sessions after it are asked and ended', async () => {
    const { link, url } = await tripwireToDatabase(directory.url);
    const pool = createDatabase({ url, poolMax: 3 });
    try {
      await readOnlyDatabase(async () => {
        const before = await pidsOf(pool, 3);
        // The first session asked is cut by the network as its question goes out.
        link.arm('idle_session_timeout');
        const round = await within('the round', endReadOnlySessions(pool.sql, { waitMs: 60_000 }));
        assert.equal(link.cut(), 1);
        // The lost one was no turn's to end; the six turns after it each found a read-only session.
        assert.deepEqual(round, { ended: 6 });
        const after = await pidsOf(pool, 3);
        assert.equal(after.filter((pid) => before.includes(pid)).length, 0, 'no session of before is left');
      });
    } finally {
      await pool.close();
    }
  });

  it('keeps each session it asks to itself: a statement sent during the round never runs on a session the round ends', async () => {
    const pool = createDatabase({ url: directory.url, poolMax: 1 });
    try {
      await readOnlyDatabase(async () => {
        const [before] = await pidsOf(pool, 1);
        const round = endReadOnlySessions(pool.sql, { waitMs: 60_000 });
        // Sent while the round holds the pool's one connection: it waits for a session the round has done with.
        const during = pool.sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
        const [[row], ended] = await within('the round and the statement', Promise.all([during, round]));
        assert.ok(ended.ended >= 1, JSON.stringify(ended));
        assert.notEqual(row?.pid, before, 'the statement ran on the session the round was ending');
      });
    } finally {
      await pool.close();
    }
  });

  it('leaves busy connections alone: it ends within its wait, and the slot it waited for comes back to the pool', async () => {
    const pool = createDatabase({ url: directory.url, poolMax: 2 });
    try {
      await readOnlyDatabase(async () => {
        await pidsOf(pool, 2);
        const busy = Promise.all([pool.sql`SELECT pg_sleep(2)`, pool.sql`SELECT pg_sleep(2)`]);
        await until('both connections busy', async () => {
          const [row] = await admin<{ n: number }[]>`
            SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = ${directory.name} AND state = 'active' AND query LIKE '%pg_sleep(2)%'`;
          return row?.n === 2;
        });
        assert.deepEqual(await within('the round', endReadOnlySessions(pool.sql, { waitMs: 200 })), { ended: 0 });
        await busy;
      });
      // A reservation kept after the round gave up would leave one connection for both.
      const pids = await within('two statements at once', pidsOf(pool, 2));
      assert.equal(new Set(pids).size, 2, 'two sessions serve two statements at once');
    } finally {
      await pool.close();
    }
  });

  it("behind a transaction-mode PgBouncer ends nothing: the server connections are the pooler's", async () => {
    const rounds: ReadOnlyRound[] = [];
    const pool = createDatabase({
      url: viaPgBouncer(directory.name),
      poolMax: 3,
      pooler: 'transaction',
      onReadOnlyRound: (r) => rounds.push(r),
    });
    try {
      await readOnlyDatabase(async () => {
        await pidsOf(pool, 3);
        const before = await sessionsOfDatabase();
        assert.ok(before.length > 0);
        assert.deepEqual(await endReadOnlySessions(pool.sql), { ended: 0, pooler: 'transaction' });
        assert.deepEqual(await sessionsOfDatabase(), before, "PgBouncer's server connections untouched");
        assert.deepEqual(rounds, [{ ended: 0, pooler: 'transaction' }]);
        const untold = createDatabase({ url: viaPgBouncer(directory.name), poolMax: 1, pooler: 'transaction' });
        try {
          assert.deepEqual(await endReadOnlySessions(untold.sql), { ended: 0, pooler: 'transaction' });
        } finally {
          await untold.close();
        }
      });
    } finally {
      await pool.close();
    }
  });
  it('tells why it stopped when no connection can be made, and ends nothing', async () => {
    const rounds: ReadOnlyRound[] = [];
    const nowhere = new URL(directory.url);
    nowhere.port = String(await freePort());
    const pool = createDatabase({ url: nowhere.toString(), poolMax: 2, onReadOnlyRound: (r) => rounds.push(r) });
    try {
      const round = await within('the round', endReadOnlySessions(pool.sql, { waitMs: 10_000 }));
      assert.equal(round.ended, 0);
      assert.equal((round.error as { code?: string } | undefined)?.code, 'ECONNREFUSED');
      assert.deepEqual(rounds, [round]);
    } finally {
      await pool.close(0);
    }
  });

  it('tells why it stopped when its question is refused, and hands the connection back', async () => {
    const role = `lgs_round_${randomBytes(4).toString('hex')}`;
    await admin.unsafe(`CREATE ROLE "${role}" LOGIN PASSWORD 'round-only'`);
    await admin.unsafe(`GRANT CONNECT ON DATABASE "${directory.name}" TO "${role}"`);
    // Only in this database: its catalog's copy of the function.
    await directory.sql.unsafe('REVOKE EXECUTE ON FUNCTION pg_backend_pid() FROM PUBLIC');
    const url = new URL(directory.url);
    url.username = role;
    url.password = 'round-only';
    const pool = createDatabase({ url: url.toString(), poolMax: 2 });
    try {
      const round = await within('the round', endReadOnlySessions(pool.sql));
      assert.equal(round.ended, 0);
      assert.equal((round.error as { code?: string } | undefined)?.code, '42501', String(round.error));
      const ports = await within(
        'two statements at once',
        Promise.all([1, 2].map(() => pool.sql<{ port: number }[]>`SELECT inet_client_port() AS port, pg_sleep(0.05)`)),
      );
      assert.equal(new Set(ports.map(([row]) => row?.port)).size, 2, 'the connection it asked on is back in the pool');
    } finally {
      await pool.close();
      await directory.sql.unsafe('GRANT EXECUTE ON FUNCTION pg_backend_pid() TO PUBLIC');
      await admin.unsafe(`REVOKE CONNECT ON DATABASE "${directory.name}" FROM "${role}"`);
      await admin.unsafe(`DROP ROLE "${role}"`);
    }
  });
});
