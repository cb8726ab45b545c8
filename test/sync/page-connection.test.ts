/**
 * The page connection on its own (src/sync/page-connection.ts), on a pool of one
 * connection: whatever it reserves must come back to the pool when its statements are
 * done, a failed statement must stop the ones sent after the failure was known, and a
 * statement must never be sent on a connection that was lost. Syncs through it:
 * pipelined-pages.test.ts.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { createDatabase } from '../../src/db/client.ts';
import { reserveConnection } from '../../src/db/reserve-connection.ts';
import { errorKind, isConnectionLoss } from '../../src/errors.ts';
import { freePort } from '../../src/local/free-port.ts';
import { pageConnection } from '../../src/sync/page-connection.ts';
import { createTestDatabase } from '../support/db.ts';
import { within } from '../support/faults.ts';

const database = await createTestDatabase({ label: 'page_connection' });

function poolOfOne() {
  const handle = createDatabase({ url: database.url, poolMax: 1 });
  after(() => handle.close());
  return handle;
}

/** The pool's one connection answers a statement of its own: it was handed back. */
async function poolAnswers(handle: ReturnType<typeof poolOfOne>): Promise<void> {
  await within('the pool to answer a statement of its own (its connection handed back)', handle.sql`SELECT 1`);
}

describe('the page connection', () => {
  it('hands its connection back to the pool once its statements are answered, and reserves it again for the next', async () => {
    const handle = poolOfOne();
    const pages = pageConnection(handle.db);

    const [a, b] = await Promise.all([
      pages.send<{ n: number }>(sql`SELECT 1 AS n`),
      pages.send<{ n: number }>(sql`SELECT 2 AS n`),
    ]);
    assert.deepEqual([a[0]?.n, b[0]?.n], [1, 2]);
    await poolAnswers(handle);

    const [c] = await pages.send<{ n: number }>(sql`SELECT 3 AS n`);
    assert.equal(c?.n, 3);
    await poolAnswers(handle);
  });

  it('runs statements in the order sent, on one connection', async () => {
    const handle = createDatabase({ url: database.url, poolMax: 4 });
    after(() => handle.close());
    const pages = pageConnection(handle.db);
    const answers = await Promise.all(
      [1, 2, 3, 4].map((n) =>
        pages.send<{ pid: number; at: string }>(
          sql`SELECT pg_backend_pid() AS pid, clock_timestamp()::text AS at, pg_sleep(${0.05 / n}::float8)`,
        ),
      ),
    );
    const rows = answers.map((rows) => rows[0]!);
    assert.equal(new Set(rows.map((r) => r.pid)).size, 1, 'one backend');
    const times = rows.map((r) => r.at);
    assert.deepEqual(times, [...times].sort(), 'each began after the one before');
  });

  it('sends nothing more once a statement failed, while others are in flight, then starts afresh', async () => {
    const handle = poolOfOne();
    const pages = pageConnection(handle.db);
    await database.sql`CREATE TABLE IF NOT EXISTS page_connection_marks (mark text)`;

    const failing = pages.send(sql`SELECT pg_sleep(0.2), 1 / 0`);
    const slow = pages.send(sql`SELECT pg_sleep(1)`);
    await assert.rejects(failing, /division by zero/);
    await assert.rejects(
      pages.send(sql`INSERT INTO page_connection_marks VALUES ('after the failure')`),
      /page statement not sent: a statement sent before it on its connection failed/,
    );
    await slow;
    const marks = await database.sql`SELECT mark FROM page_connection_marks`;
    assert.equal(marks.length, 0, 'the statement was never sent');

    // A failed statement leaves the connection usable: it went back.
    await poolAnswers(handle);
    const [row] = await pages.send<{ n: number }>(sql`SELECT 5 AS n`);
    assert.equal(row?.n, 5, 'a new reservation, once the failed one ended');
  });

  it('fails the statements queued behind one that lost the connection, keeps the dead connection out of the pool, and reconnects', async () => {
    const handle = poolOfOne();
    const pages = pageConnection(handle.db);
    // The first statement with parameters of its shape on the connection: postgres.js
    // describes it first and keeps every later one in its own queue until it is answered.
    // Both outcomes are taken at once: the terminated session's close can reach this
    // process before the answer to pg_terminate_backend does.
    const died = pages.send(sql`SELECT pg_sleep(${30}::float8)`).then(
      () => assert.fail('the statement whose session was terminated succeeded'),
      (err: unknown) => err as Error,
    );
    const lost = pages.send(sql`SELECT ${2}::int AS n`).then(
      () => assert.fail('the queued statement was answered'),
      (err: unknown) => err as Error,
    );
    const terminate = () => database.sql`
      SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE query LIKE 'SELECT pg_sleep($1%' AND state = 'active' AND pid <> pg_backend_pid()`;
    while ((await terminate()).length === 0) await new Promise((resolve) => setTimeout(resolve, 20));

    const [dead, queuedLost] = await within('both statements to settle', Promise.all([died, lost]));
    assert.equal(queuedLost.name, 'PageConnectionLostError');
    assert.match(queuedLost.message, /^page statement not answered: the connection it was sent on was lost$/);
    assert.equal(queuedLost.cause, dead, "the loss is the terminated statement's own error");
    // The next statement on the pool meets a new connection (postgres.js may first hand it
    // the server's FATAL), never the dead one: that would end the process from a timer.
    await handle.sql`SELECT 1`.catch(() => undefined);
    await poolAnswers(handle);
    const [row] = await pages.send<{ n: number }>(sql`SELECT ${7}::int AS n`);
    assert.equal(row?.n, 7);
  });
  it('is served when the connection it waits for closes and reconnects (the driver drops such a reservation)', async () => {
    const handle = poolOfOne();
    const pages = pageConnection(handle.db);
    // Another user of the pool holds its one connection: the page's reservation waits.
    const other = await handle.sql.reserve();
    const [{ pid } = { pid: 0 }] = await other<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    const page = pages.send<{ n: number }>(sql`SELECT ${3}::int AS n`);
    // That connection's session ends (a server restart, an administrator, a max lifetime):
    // postgres.js reconnects the slot for the waiting reservation, and the reconnection's
    // array-types lookup drops it (docs/driver-workarounds.md). `other` is lost with it.
    await database.sql`SELECT pg_terminate_backend(${pid})`;
    const [row] = await within('the page statement, sent while its reservation waited', page, 15_000);
    assert.equal(row?.n, 3);
    await poolAnswers(handle);
  });
  it('hands back a connection served to it after it was served already (asked again after a close that dropped nothing)', async () => {
    const handle = poolOfOne();
    const pages = pageConnection(handle.db);
    const other = await handle.sql.reserve();
    const [{ pid } = { pid: 0 }] = await other<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    // A statement of the pool's own waits ahead of the page's reservation: the close below
    // reconnects the slot for that statement, so the first ask stays queued and is served.
    // (Asked for now, and queued once postgres.js's own tick has passed.)
    const ahead = handle.sql`SELECT 1 AS one`.catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    const page = pages.send<{ n: number }>(sql`SELECT ${4}::int AS n`);
    await database.sql`SELECT pg_terminate_backend(${pid})`;
    await within(
      'the statement ahead',
      ahead.catch(() => undefined),
    );
    const [row] = await within('the page statement', page, 15_000);
    assert.equal(row?.n, 4);
    // The second ask, made after the close, is served once the first is done: it must go
    // back to the pool, or the pool's one connection is held for nobody.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await poolAnswers(handle);
  });

  it('fails at once when the pool cannot connect, as a database failure, and asks nothing more', async (t) => {
    const nowhere = new URL(database.url);
    nowhere.port = String(await freePort());
    const handle = createDatabase({ url: nowhere.toString(), poolMax: 1 });
    after(() => handle.close(0));
    const asks = t.mock.method(handle.sql, 'reserve');
    const err = await within(
      'the reservation to fail',
      reserveConnection(handle.sql).then(
        () => assert.fail('reserved a connection of a pool that cannot connect'),
        (e: unknown) => e as { code?: unknown; syscall?: unknown },
      ),
    );
    assert.equal(err.code, 'ECONNREFUSED');
    // The driver passes Node's own error on; named here, or a sync that needed a new page
    // connection while the database was down would be counted as `unexpected`.
    assert.equal(errorKind(err), 'database');
    // Still a connection that could not be opened, which a repeat cannot help with.
    assert.equal(isConnectionLoss(err), true);
    assert.equal(err.syscall, 'connect');
    // Each failed connection closes its slot: a reservation asking again at each close would go on.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(asks.mock.callCount(), 1);
  });
});
