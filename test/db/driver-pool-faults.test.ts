/**
 * Two more postgres.js behaviours, shown on the driver alone, that shape how the worker
 * ends a pool's read-only sessions (src/db/read-only-sessions.ts): there is no way to end
 * one pooled connection, the undocumented `sql.close()` that ends them all shrinks the
 * pool, and a reservation waiting for a connection is lost when a closed connection is
 * reconnected for it. A driver upgrade that fixes one fails here and names what may then
 * be simpler. docs/driver-workarounds.md lists them with the others
 * (driver-workarounds.test.ts).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import postgres from 'postgres';
import { createTestDatabase } from '../support/db.ts';
import { until, within } from '../support/faults.ts';

const database = await createTestDatabase({ label: 'driver_pool_faults', migrate: false });
const { sql: admin } = database;

const FIXED = (what: string, workaround: string) =>
  `postgres.js no longer ${what}: ${workaround} may be simpler now (docs/driver-workarounds.md)`;

describe('postgres.js, as pinned in package-lock.json', () => {
  it('sql.close(), which ends every connection, drops the ones not open from the pool for good', async () => {
    const sql = postgres(database.url, { max: 3, onnotice: () => {} });
    after(() => sql.end({ timeout: 1 }));
    await sql`SELECT 1`;
    // One connection open, two never opened.
    await (sql as unknown as { close(): Promise<void> }).close();
    const rows = await within(
      'three statements at once',
      Promise.all([1, 2, 3].map(() => sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid, pg_sleep(0.2)`)),
    );
    const sessions = new Set(rows.map(([row]) => row?.pid));
    assert.equal(
      sessions.size,
      1,
      FIXED('loses connections on close()', 'ending the read-only sessions with close() instead of a round'),
    );
  });

  it('loses a waiting reservation when the connection that frees up for it is a reconnection', async () => {
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    after(() => sql.end({ timeout: 1 }));
    const first = await sql.reserve();
    const [{ pid } = { pid: 0 }] = await first<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    let second: postgres.ReservedSql | undefined;
    const waiting = sql.reserve().then((reserved) => {
      second = reserved;
    });
    // The reserved session ends while idle: its slot closes and reconnects for the waiting
    // reservation, which the reconnection's array-types lookup drops. `first` is never
    // released (a lost reservation, driver-workarounds.md).
    await admin`SELECT pg_terminate_backend(${pid})`;
    await until('the terminated session gone', async () => {
      const [row] = await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ${pid}`;
      return row?.n === 0;
    });
    await Promise.race([waiting, new Promise((resolve) => setTimeout(resolve, 2_000))]);
    second?.release();
    assert.equal(
      second,
      undefined,
      FIXED(
        'drops a reservation handed a reconnected connection',
        "the round's wait for each ended session's close (read-only-sessions.ts)",
      ),
    );
  });
});
