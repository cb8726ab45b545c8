/**
 * The direct connection's startup settings (session-settings.ts): a session left idle
 * inside a transaction — its process paused, partitioned or gone — is ended by the server
 * within the bound, and the row locks it held (a claim's, which every takeover waits on)
 * are free again.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createDatabase, type Pooler } from '../../src/db/client.ts';
import { sessionSettings } from '../../src/db/session-settings.ts';
import { createTestDatabase, withDatabase } from '../support/db.ts';
import { until } from '../support/faults.ts';
import { startTestPgBouncer } from '../support/pgbouncer.ts';
import { seedEvent } from '../support/seed.ts';

const database = await createTestDatabase({ label: 'session_settings' });
after(() => database.close());

/**
 * Locks the claim row of a new event in a transaction on a pool with `pooler`'s settings,
 * then sends nothing more, like a holder paused inside its fenced write. Plain BEGIN on a
 * reserved connection rather than sql.begin: postgres.js 3.4.9 throws from a timer when a
 * connection closes under a transaction it opened itself (porsager/postgres#1208).
 */
async function stalledHolder(pooler: Pooler, url = database.url) {
  const event = await seedEvent(database.db);
  await database.sql`INSERT INTO luma_guest_sync.event_claim (event_uid, token, holder, claimed_at, expires_at)
    VALUES (${event.uid}, nextval('luma_guest_sync.event_claim_token'), 'paused:1', now(), now() + interval '1 hour')`;
  const holder = createDatabase({ url, poolMax: 1, pooler, idleInTransactionSeconds: 1 });
  const connection = await holder.sql.reserve();
  await connection`BEGIN`;
  const [{ pid }] = (await connection`SELECT pg_backend_pid() AS pid`) as unknown as [{ pid: number }];
  await connection`SELECT 1 FROM luma_guest_sync.event_claim WHERE event_uid = ${event.uid} FOR UPDATE`;
  // Nothing more is sent: the session is now idle in its transaction, holding the row.
  const alive = async () => (await database.sql`SELECT 1 FROM pg_stat_activity WHERE pid = ${pid}`).length === 1;
  // An ending backend releases its locks (aborting its transaction) before it leaves
  // pg_stat_activity: a takeover can get the row while the session is still listed, and
  // on a loaded machine the test saw it (CI beside a soak). So its end is waited for.
  const ended = () => until("the holder's session to end", async () => !(await alive()));
  return { event, alive, ended, close: () => holder.close(0) };
}

/** A takeover's write of the claim row: resolves once it got the row, or 'blocked' after `ms`. */
async function takeover(eventUid: string, ms: number): Promise<'taken' | 'blocked'> {
  const other = createDatabase({ url: database.url, poolMax: 1 });
  try {
    const write = other.sql`UPDATE luma_guest_sync.event_claim SET holder = 'other:2' WHERE event_uid = ${eventUid}`;
    const timer = new Promise<'blocked'>((resolve) => setTimeout(() => resolve('blocked'), ms));
    return await Promise.race([write.then(() => 'taken' as const), timer]);
  } finally {
    await other.close(0);
  }
}

describe("the worker's session settings", () => {
  it('sends idle_in_transaction_session_timeout (in milliseconds) and read committed on a direct connection only', () => {
    const readCommitted = { default_transaction_isolation: 'read committed' };
    assert.deepEqual(sessionSettings('none', 60), { idle_in_transaction_session_timeout: '60000', ...readCommitted });
    assert.deepEqual(sessionSettings(undefined, 1.5), {
      idle_in_transaction_session_timeout: '1500',
      ...readCommitted,
    });
    assert.deepEqual(sessionSettings('transaction', 60), {});
  });

  it('a holder idle inside its transaction is ended by the server, and a takeover gets the claim row', async () => {
    const holder = await stalledHolder('none');
    try {
      assert.equal(await takeover(holder.event.uid, 30_000), 'taken');
      await holder.ended();
    } finally {
      await holder.close();
    }
  });

  it("behind PgBouncer, its idle_transaction_timeout ends the stalled holder's transaction, and a takeover gets the claim row", async () => {
    const bouncer = await startTestPgBouncer({ idleTransactionTimeout: 1 });
    const holder = await stalledHolder('transaction', withDatabase(bouncer.url, database.name));
    try {
      assert.equal(await takeover(holder.event.uid, 30_000), 'taken');
      await holder.ended();
    } finally {
      await holder.close();
    }
  });

  it('without the setting (as behind a pooler, which has its own bound) the takeover still waits after 3 s', async () => {
    const holder = await stalledHolder('transaction');
    try {
      assert.equal(await takeover(holder.event.uid, 3_000), 'blocked');
      assert.equal(await holder.alive(), true);
    } finally {
      await holder.close();
    }
  });
});
