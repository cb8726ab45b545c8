/**
 * withTransaction (transaction.ts): one round trip opens the transaction, read committed
 * named in the BEGIN itself; and every transaction runs read committed whatever the role's
 * default_transaction_isolation, on a direct connection and through PgBouncer in
 * transaction mode, where no startup setting can override the role's.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { createDatabase, type Database, type Db, type Pooler } from '../../src/db/client.ts';
import { plEvent } from '../../src/db/schema.ts';
import { withTransaction } from '../../src/db/transaction.ts';
import { startPgBouncer } from '../../src/local/pgbouncer.ts';
import { createTestDatabase } from '../support/db.ts';
import { testEnv } from '../support/env.ts';
import { viaPgBouncer } from '../support/pgbouncer.ts';
import { seedEvent } from '../support/seed.ts';

const database = await createTestDatabase({ label: 'transaction' });

/** A login role whose sessions default to serializable, as a DBA may set on the worker's role. */
const role = `lgs_serializable_${randomBytes(3).toString('hex')}`;
const password = `${role}-pw`;
const roleUrl = (() => {
  const url = new URL(database.url);
  url.username = role;
  url.password = password;
  return url.toString();
})();
await database.sql.unsafe(`CREATE ROLE "${role}" LOGIN PASSWORD '${password}'`);
await database.sql.unsafe(`ALTER ROLE "${role}" SET default_transaction_isolation = 'serializable'`);
await database.sql.unsafe('CREATE TABLE public.committed_rows (n integer)');
await database.sql.unsafe(`GRANT SELECT, INSERT ON public.committed_rows TO "${role}"`);
after(async () => {
  // Runs after createTestDatabase's clean-up dropped the database, and with it the role's
  // grant; a kept database (a failed test) keeps the role too.
  const cluster = postgres(testEnv('adminDatabaseUrl'), { max: 1, onnotice: () => {} });
  try {
    await cluster.unsafe(`DROP ROLE IF EXISTS "${role}"`).catch(() => {});
  } finally {
    await cluster.end();
  }
});

/** Every statement a one-connection pool sends, in order, from when `run` starts. */
async function statementsOf(url: string, pooler: Pooler, run: (db: Db) => Promise<unknown>): Promise<string[]> {
  const sent: string[] = [];
  let counting = false;
  const pool = createDatabase({ url, poolMax: 1, pooler, onQuery: (query) => counting && sent.push(query.trim()) });
  try {
    await pool.sql`SELECT 1`; // connected, its types fetched: nothing of the set-up is counted
    counting = true;
    await run(pool.db);
    return sent;
  } finally {
    await pool.close();
  }
}

const BODY = "SELECT 'the body'";

describe('withTransaction: the statements of one transaction', () => {
  for (const [route, url] of [
    ['directly', () => database.url],
    ['through PgBouncer', () => viaPgBouncer(database.name)],
  ] as const) {
    it(`${route}: one BEGIN naming read committed, the body, COMMIT; nothing else before the body`, async () => {
      const pooler: Pooler = route === 'directly' ? 'none' : 'transaction';
      const sent = await statementsOf(url(), pooler, (db) => withTransaction(db, (tx) => tx.execute(sql.raw(BODY))));
      const body = sent.indexOf(BODY);
      assert.ok(body >= 0, `the body was sent: ${JSON.stringify(sent)}`);
      assert.deepEqual(
        sent.slice(0, body).map((s) => s.toLowerCase()),
        ['begin isolation level read committed'],
        'one statement opens the transaction',
      );
      assert.deepEqual(
        sent.slice(body + 1).map((s) => s.toLowerCase()),
        ['commit'],
      );
    });
  }

  it('rolls back when the body throws, and rethrows its error', async () => {
    const failure = new Error('the body failed');
    await assert.rejects(
      withTransaction(database.db, async (tx) => {
        await tx.execute(sql`INSERT INTO public.committed_rows (n) VALUES (-1)`);
        throw failure;
      }),
      (err) => err === failure,
    );
    const [row] = await database.sql`SELECT count(*)::int AS n FROM public.committed_rows WHERE n = -1`;
    assert.equal(row?.n, 0, 'the insert was rolled back');
  });

  it('runs the query builder and execute() on the one transaction, and returns what the body returns', async () => {
    const event = await seedEvent(database.db);
    const result = await withTransaction(database.db, async (tx) => {
      const [first] = await tx.execute<{ xid: string }>(sql`SELECT pg_current_xact_id()::text AS xid`);
      const rows = await tx.select({ uid: plEvent.uid }).from(plEvent).where(sql`${plEvent.uid} = ${event.uid}`);
      const [second] = await tx.execute<{ xid: string }>(sql`SELECT pg_current_xact_id()::text AS xid`);
      return { rows, sameTransaction: first?.xid === second?.xid };
    });
    assert.deepEqual(result, { rows: [{ uid: event.uid }], sameTransaction: true });
  });
});

/**
 * What one withTransaction sees: the isolation PostgreSQL reports, and whether its second
 * statement sees a row another session committed after its first one (read committed does;
 * repeatable read and serializable keep the first statement's snapshot).
 */
async function insideWithTransaction(worker: Database) {
  return withTransaction(worker.db, async (tx) => {
    const [shown] = await tx.execute<{ isolation: string }>(
      sql`SELECT current_setting('transaction_isolation') AS isolation`,
    );
    const count = async () =>
      Number((await tx.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM public.committed_rows`))[0]?.n);
    const before = await count();
    await database.sql`INSERT INTO public.committed_rows (n) VALUES (1)`;
    return { isolation: shown?.isolation, seesLaterCommit: (await count()) === before + 1 };
  });
}

describe("withTransaction under a role with default_transaction_isolation = 'serializable'", () => {
  let bouncer: Awaited<ReturnType<typeof startPgBouncer>>;
  before(async () => {
    // Its own PgBouncer, logging in as the role: its server sessions start with the role's setting.
    bouncer = await startPgBouncer(roleUrl);
  });
  after(() => bouncer?.stop());

  const routes: Array<[string, () => string, Pooler]> = [
    ['directly (DATABASE_POOLER=none)', () => roleUrl, 'none'],
    ['directly without startup settings (DATABASE_POOLER=transaction)', () => roleUrl, 'transaction'],
    ['through PgBouncer in transaction mode', () => bouncer.url, 'transaction'],
  ];
  for (const [route, url, pooler] of routes) {
    it(`${route}: runs read committed, each statement seeing what committed before it`, async () => {
      const worker = createDatabase({ url: url(), poolMax: 2, pooler });
      try {
        if (pooler === 'transaction') {
          // The role's setting reaches the session: outside withTransaction a statement runs serializable.
          const [outside] = await worker.sql`SELECT current_setting('transaction_isolation') AS isolation`;
          assert.equal(outside?.isolation, 'serializable');
        }
        for (let i = 0; i < 3; i++) {
          assert.deepEqual(await insideWithTransaction(worker), { isolation: 'read committed', seesLaterCommit: true });
        }
      } finally {
        await worker.close();
      }
    });
  }
});
