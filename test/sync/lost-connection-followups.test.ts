/**
 * What follows a lost database connection. A sync whose page connection is lost mid-page
 * (its backend terminated) fails, and the statements after it on the same pool, the
 * claim's release and the attempt's history row, must still be written at once: a claim
 * left to its lease end keeps every other replica off the event for a minute or more. A
 * sync whose finish transaction is terminated fails the same way, and the process goes on
 * (the driver used to end it: closed-transaction-guard.ts). A pooled connection terminated
 * while idle between two syncs must not fail the next one.
 * Each on a pool of one connection (the lost connection is the one the pool has), directly
 * and through PgBouncer in transaction mode.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createDatabase, type Pooler } from '../../src/db/client.ts';
import { errorKind, isPermanent } from '../../src/errors.ts';
import { withSyncHistory } from '../../src/history/record-attempt.ts';
import { type SyncHooks, syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { blockedBy, createGate, holdInTransaction, lastSyncedAt, until, within } from '../support/faults.ts';
import { startHeldRelay } from '../support/held-relay.ts';
import { viaPgBouncer } from '../support/pgbouncer.ts';
import { seedEvent, seedMember, syncMessageFor } from '../support/seed.ts';
import { captureLogger } from '../support/sqs-queue.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const database = await createTestDatabase({ label: 'lost_connection_followups' });
const { db, sql } = database;
const luma = useSimulatedLuma();

/** A lease far longer than any test: a claim found free was released, not expired. */
const NO_RENEWALS = { leaseSeconds: 600, holder: 'lost-connection:1', renewEveryMs: 3_600_000 };

const routes: Array<{ name: string; url: string; pooler: Pooler }> = [
  { name: 'PostgreSQL', url: database.url, pooler: 'none' },
  { name: 'PgBouncer (transaction mode)', url: viaPgBouncer(database.name), pooler: 'transaction' },
];

async function claimIsFree(eventUid: string): Promise<boolean | undefined> {
  const [row] = await sql<{ free: boolean }[]>`
    SELECT expires_at <= clock_timestamp() AS free FROM luma_guest_sync.event_claim WHERE event_uid = ${eventUid}`;
  return row?.free;
}

async function attemptsOf(eventUid: string): Promise<Array<{ outcome: string }>> {
  const rows = await sql<{ outcome: string }[]>`
    SELECT outcome FROM luma_guest_sync.sync_history WHERE event_uid = ${eventUid} ORDER BY id`;
  return rows.map((r) => ({ outcome: r.outcome }));
}

for (const route of routes) {
  describe(`after a lost connection, ${route.name}`, () => {
    function poolOfOne() {
      const handle = createDatabase({ url: route.url, poolMax: 1, pooler: route.pooler });
      after(() => handle.close());
      return handle;
    }

    /** The worker's sync of `message` with its history row, as the consumer runs it; `hooks` for the sync's own. */
    function recordedSync(
      handle: ReturnType<typeof poolOfOne>,
      message: ReturnType<typeof syncMessageFor>,
      hooks?: SyncHooks,
    ) {
      const { log, lines } = captureLogger('warn');
      const deps = syncDeps(handle.db, { pageSize: 1, claim: NO_RENEWALS, log, hooks });
      const history = { sql: handle.sql, retentionDays: 30, log };
      const run = () =>
        withSyncHistory(history, { eventUid: message.eventUid, trigger: 'manual' }, () => syncEvent(deps, message));
      // With the error's message, to show what failed.
      const warnings = () => lines.map((l) => `${l.msg} (${(l.err as { message?: string } | undefined)?.message})`);
      return { run, warnings };
    }

    it('a page connection terminated mid-page: the sync fails, its claim is released at once and its attempt recorded', async () => {
      const event = await seedEvent(db);
      const message = syncMessageFor(event);
      const members = await Promise.all([1, 2, 3].map(() => seedMember(db)));
      const gate = createGate();
      const page2Asked = createGate();
      luma.serve({
        events: { [message.externalEventId]: members.map((m, i) => ({ id: `gst-${i + 1}`, email: m.email! })) },
        fault: async (_request, pageNo) => {
          if (pageNo !== 2) return undefined;
          page2Asked.open();
          await gate.opened;
          return undefined;
        },
      });
      const handle = poolOfOne();
      const sync = recordedSync(handle, message);
      const outcome = sync.run().then(
        () => undefined,
        (err: unknown) => err as Error,
      );

      // Page 2's statement waits on the claim's row, held here, and its backend is terminated.
      await page2Asked.opened;
      await until('page 1 to be written', async () => {
        const [row] = await sql<{ pages_done: number }[]>`
          SELECT pages_done FROM luma_guest_sync.event_claim WHERE event_uid = ${event.uid}`;
        return row?.pages_done === 1;
      });
      const lock = await holdInTransaction(
        sql,
        (tx) => tx`SELECT 1 FROM luma_guest_sync.event_claim WHERE event_uid = ${event.uid} FOR UPDATE`,
      );
      gate.open();
      await until('page 2 to wait on the lock', async () => (await blockedBy(sql, lock.pid)) === 1);
      await sql`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE ${lock.pid}::int = ANY(pg_blocking_pids(pid))`;
      await lock.release();
      const err = await within('the sync to end', outcome);

      assert.ok(err instanceof Error, 'the sync failed');
      assert.deepEqual(sync.warnings(), [], 'nothing was left undone');
      assert.equal(await claimIsFree(event.uid), true, 'the claim was released, not left to its lease end');
      assert.deepEqual(await attemptsOf(event.uid), [{ outcome: 'failure' }]);
    });

    it("the finish's transaction terminated while it waits on a lock: the sync fails as a lost connection, the process goes on, the claim is released and the redelivery completes", async () => {
      const event = await seedEvent(db);
      const message = syncMessageFor(event);
      const member = await seedMember(db);
      luma.serve({ events: { [message.externalEventId]: [{ id: 'gst-1', email: member.email! }] } });
      const handle = poolOfOne();
      // The event's row held: the finish's transaction (its fence, then guestLastSyncedAt)
      // waits on it, and its session is terminated there, as a restart would end it.
      let lock: Awaited<ReturnType<typeof holdInTransaction>> | undefined;
      const { run, warnings } = recordedSync(handle, message, {
        // The first attempt's finish only.
        beforeFinish: async () => {
          lock ??= await holdInTransaction(
            sql,
            (tx) => tx`SELECT 1 FROM "PLEvent" WHERE uid = ${event.uid} FOR UPDATE`,
          );
        },
      });
      const outcome = run().then(
        () => undefined,
        (err: unknown) => err as Error,
      );
      await until(
        'the finish to wait on the lock',
        async () => lock !== undefined && (await blockedBy(sql, lock.pid)) === 1,
      );
      await sql`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE ${lock!.pid}::int = ANY(pg_blocking_pids(pid))`;
      const err = await within('the sync to end', outcome);
      await lock!.release();

      assert.ok(err instanceof Error, 'the sync failed');
      assert.ok(!isPermanent(err), `retryable: ${err.message}`);
      assert.equal(errorKind(err), 'database', err.message);
      assert.deepEqual(warnings(), [], 'nothing was left undone');
      assert.equal(await lastSyncedAt(sql, event.uid), null, 'the finish wrote nothing');
      assert.equal(await claimIsFree(event.uid), true, 'the claim was released, not left to its lease end');
      assert.deepEqual(await attemptsOf(event.uid), [{ outcome: 'failure' }]);

      // The redelivery, on the same pool.
      assert.equal(
        await within(
          'the redelivered sync to end',
          run().then(() => undefined),
        ),
        undefined,
      );
      assert.notEqual(await lastSyncedAt(sql, event.uid), null);
      assert.deepEqual(await attemptsOf(event.uid), [{ outcome: 'failure' }, { outcome: 'success' }]);
    });

    it("a pooled connection terminated while idle between two syncs: the next sync's statements go through", async () => {
      const event = await seedEvent(db);
      const message = syncMessageFor(event);
      const member = await seedMember(db);
      luma.serve({ events: { [message.externalEventId]: [{ id: 'gst-1', email: member.email! }] } });
      const handle = poolOfOne();
      const sync = recordedSync(handle, message);
      await sync.run();
      const [{ pid } = { pid: 0 }] = await handle.sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;

      await sql`SELECT pg_terminate_backend(${pid}::int)`;
      await until('the terminated backend to be gone', async () => {
        const rows = await sql`SELECT 1 FROM pg_stat_activity WHERE pid = ${pid}::int`;
        return rows.length === 0;
      });
      const err = await within(
        'the second sync to end',
        sync.run().then(
          () => undefined,
          (e: unknown) => e as Error,
        ),
      );

      assert.equal(err, undefined, 'the second sync succeeded');
      assert.deepEqual(sync.warnings(), []);
      assert.equal(await claimIsFree(event.uid), true);
      assert.deepEqual(await attemptsOf(event.uid), [{ outcome: 'success' }, { outcome: 'success' }]);
    });
  });
}

describe('after a lost connection, its end unread when the next statement is sent', () => {
  it("a pooled connection terminated while idle, the next sync's first statement sent before the pool read the end: the sync goes through", async () => {
    const event = await seedEvent(db);
    const message = syncMessageFor(event);
    const member = await seedMember(db);
    luma.serve({ events: { [message.externalEventId]: [{ id: 'gst-1', email: member.email! }] } });
    const url = new URL(database.url);
    const relay = await startHeldRelay({ host: url.hostname, port: Number(url.port) });
    url.hostname = '127.0.0.1';
    url.port = String(relay.port);
    const handle = createDatabase({ url: url.toString(), poolMax: 1 });
    after(() => handle.close());
    const { log, lines } = captureLogger('warn');
    const deps = syncDeps(handle.db, { pageSize: 1, claim: NO_RENEWALS, log });
    const history = { sql: handle.sql, retentionDays: 30, log };
    const run = () =>
      withSyncHistory(history, { eventUid: message.eventUid, trigger: 'manual' }, () => syncEvent(deps, message));
    await run();
    const [{ pid } = { pid: 0 }] = await handle.sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;

    // The server's FATAL and its end of the connection wait in the relay while the next
    // sync's first statement (the claim's grant) is written on the dead connection.
    relay.hold();
    await sql`SELECT pg_terminate_backend(${pid}::int)`;
    await until('the terminated backend to be gone', async () => {
      const rows = await sql`SELECT 1 FROM pg_stat_activity WHERE pid = ${pid}::int`;
      return rows.length === 0;
    });
    const second = run().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    await until('the claim statement to be sent', () => relay.sentWhileHeld() > 0);
    relay.release();
    const err = await within('the second sync to end', second);

    assert.equal(err, undefined, 'the second sync succeeded');
    assert.deepEqual(
      lines.map((l) => l.msg),
      [],
    );
    assert.equal(await claimIsFree(event.uid), true);
    assert.deepEqual(await attemptsOf(event.uid), [{ outcome: 'success' }, { outcome: 'success' }]);
  });
});
