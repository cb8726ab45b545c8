/**
 * The database stops answering in the middle of a sync without closing anything: a
 * network partition, or a host that died without a TCP reset (a failover whose old
 * address goes silent). The worker reaches PostgreSQL through a relay the test freezes
 * (test/support/freezable-link.ts) while page 3's statement is in flight; nothing sends a
 * FIN or an RST, so only the worker's own bounds can end the sync: TCP's would take
 * minutes (docs/reliability.md, "A database that stops answering"). The frozen worker's lease is
 * 3 s; the syncs that must complete have a long one.
 * Directly, and through PgBouncer (transaction mode) with the link frozen between the pool
 * and PgBouncer: what a worker sees when the pooler's host vanishes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventHistory } from '../../src/history/queries.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { silentLogger } from '../../src/log.ts';
import { createRecordedSync } from '../../src/recorded-sync.ts';
import { ClaimLostError } from '../../src/sync/claim.ts';
import { type SyncDeps, syncEvent } from '../../src/sync/sync-event.ts';
import type { SyncMessage } from '../../src/sync/types.ts';
import { createTestDatabase } from '../support/db.ts';
import { until, within } from '../support/faults.ts';
import { frozenRoutes, poolThroughFreezableLink } from '../support/freezable-link.ts';
import { guestsOf, seedEvent, seedMember, syncMessageFor } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const database = await createTestDatabase({ label: 'frozen_database' });
const { db, sql } = database;
const luma = useSimulatedLuma();

/** The frozen worker's lease: its running out is what these tests are about. */
const LEASE = { leaseSeconds: 3 };
/**
 * The syncs that must complete (the takeover, the next sync through the thawed link), where the
 * lease is not under test: a 3 s one, renewed every second, runs out in a 2 s stall of a loaded
 * machine (docs/load-flakes.md). None of them waits for this lease to pass.
 */
const COMPLETING_LEASE = { leaseSeconds: 60 };
/** Generous for a busy machine, and still far below TCP's minutes: a wait for TCP fails it. */
const BOUND_MS = 30_000;

type Route = ReturnType<typeof frozenRoutes>[number];

async function claimRow(eventUid: string) {
  const [row] = await sql<{ pages_done: number; free: boolean; token: string }[]>`
    SELECT pages_done, expires_at <= clock_timestamp() AS free, token::text AS token
    FROM luma_guest_sync.event_claim WHERE event_uid = ${eventUid}`;
  return row;
}

async function syncedIds(eventUid: string) {
  return (await guestsOf(db, eventUid)).map((r) => r.externalGuestId).sort();
}

/**
 * A worker's database handle through a link of its own, recording every page statement it
 * hands to a reserved connection, so the test can wait for the late one's answer.
 */
async function frozenWorker(route: Route) {
  const { link, handle } = await poolThroughFreezableLink(route.url, 3, route.pooler);
  const pageStatements: Array<PromiseLike<unknown>> = [];
  const reserve = handle.sql.reserve.bind(handle.sql);
  handle.sql.reserve = async () => {
    const reserved = await reserve();
    const unsafe = reserved.unsafe.bind(reserved);
    reserved.unsafe = ((text: string, ...rest: Parameters<typeof unsafe> extends [string, ...infer R] ? R : never) => {
      const query = unsafe(text, ...rest);
      if (text.includes('not_yet_guests')) pageStatements.push(query);
      return query;
    }) as typeof reserved.unsafe;
    return reserved;
  };
  return { link, handle, pageStatements };
}

/**
 * A sync of five one-guest pages through a frozen worker's link, frozen once page 2 is
 * written and page 3 is read from Luma: page 3's statement goes out into the silence.
 * Resolves once the sync has ended (printing how long after the freeze it did). `run` is how
 * the worker runs it: syncEvent by default.
 */
async function syncFrozenAtPage3(
  route: Route,
  run: (deps: SyncDeps, message: SyncMessage, worker: Awaited<ReturnType<typeof frozenWorker>>) => Promise<unknown> = (
    deps,
    message,
  ) => syncEvent(deps, message),
) {
  const worker = await frozenWorker(route);
  const event = await seedEvent(db);
  const message = syncMessageFor(event);
  const members = await Promise.all([1, 2, 3, 4, 5].map(() => seedMember(db)));
  let frozenAt = 0;
  luma.serve({
    events: { [message.externalEventId]: members.map((m, i) => ({ id: `gst-${i + 1}`, email: m.email! })) },
    fault: async (_request, pageNo) => {
      if (pageNo !== 3 || frozenAt) return undefined;
      await until('page 2 to be written', async () => (await claimRow(event.uid))?.pages_done === 2);
      worker.link.freeze();
      frozenAt = performance.now();
      return undefined;
    },
  });
  const deps = syncDeps(worker.handle.db, { pageSize: 1, claim: { ...LEASE, holder: 'frozen:1' } });
  const err = await within(
    'the sync to end while its database is silent (it waits for TCP)',
    run(deps, message, worker).then(
      () => assert.fail('the sync completed through a frozen link'),
      (e: unknown) => e as Error,
    ),
    BOUND_MS,
  );
  console.log(`# ${route.name}: the sync ended ${Math.round(performance.now() - frozenAt)} ms after the freeze`);
  return { ...worker, event, message, err };
}

for (const route of frozenRoutes(database)) {
  describe(`a database that stops answering mid-sync, without closing the connection, ${route.name}`, () => {
    it('ends the sync with ClaimLostError once its lease is over; the late page statement, delivered after, writes nothing', async () => {
      const { link, event, err, pageStatements, handle } = await syncFrozenAtPage3(route);

      assert.ok(err instanceof ClaimLostError, String(err));
      assert.match(err.message, /could not be renewed before its lease ran out/);
      // Past its lease by the database's clock too: only the fence stands between the
      // statement still held in the link and the rows.
      await until('the claim to expire in the database', async () => (await claimRow(event.uid))?.free === true);
      link.thaw();
      const answers = await within(
        'the late page statements to be answered once the link thaws',
        Promise.allSettled(pageStatements),
        BOUND_MS,
      );

      assert.ok(answers.length >= 3, `page statements sent: ${answers.length}`);
      // Page 3's statement, and page 4's if it was read meanwhile: each answered, none held.
      for (const answer of answers.slice(2)) {
        assert.equal(answer.status, 'fulfilled');
        const [outcome] = (answer as PromiseFulfilledResult<Array<{ held: boolean }>>).value;
        assert.equal(outcome?.held, false, 'a late page statement passed its fence');
      }
      assert.deepEqual(await syncedIds(event.uid), ['gst-1', 'gst-2'], 'page 3 was written after the claim was lost');
      assert.equal((await claimRow(event.uid))?.pages_done, 2);
      // The pool answers again through the thawed link, without a restart.
      const [row] = await within('the pool to answer again', handle.sql<{ one: number }[]>`SELECT 1 AS one`, BOUND_MS);
      assert.equal(row?.one, 1);
    });

    it('another sync, on a direct connection, takes the claim once the lease has passed and completes; thawed, the worker writes nothing and its pool syncs again', async () => {
      const { link, event, message, err, pageStatements, handle } = await syncFrozenAtPage3(route);
      assert.ok(err instanceof ClaimLostError, String(err));

      // Still frozen: nothing of the silent worker (no row lock, no session) stands in the way.
      await until('the claim to expire in the database', async () => (await claimRow(event.uid))?.free === true);
      const takeover = await within(
        'the takeover on a direct connection',
        syncEvent(syncDeps(db, { pageSize: 1, claim: { ...COMPLETING_LEASE, holder: 'direct:2' } }), message),
        BOUND_MS,
      );
      assert.equal(takeover.resumedAtPage, 3, 'resumed from the checkpoint page 2 left');
      assert.equal(takeover.created, 3);
      const synced = await syncedIds(event.uid);
      assert.deepEqual(synced, ['gst-1', 'gst-2', 'gst-3', 'gst-4', 'gst-5']);
      const released = await claimRow(event.uid);

      link.thaw();
      const answers = await within(
        'the late page statements to be answered',
        Promise.allSettled(pageStatements),
        BOUND_MS,
      );
      for (const answer of answers.slice(2)) {
        assert.equal(answer.status, 'fulfilled');
        const [outcome] = (answer as PromiseFulfilledResult<Array<{ held: boolean }>>).value;
        assert.equal(outcome?.held, false, 'a late page statement passed its fence');
      }
      assert.deepEqual(await claimRow(event.uid), released, 'the late statements left the claim as the takeover did');
      assert.deepEqual(await syncedIds(event.uid), synced);

      // The worker's pool, through the thawed link, runs a whole sync again: no restart.
      const again = await within(
        'a sync through the thawed link',
        syncEvent(syncDeps(handle.db, { pageSize: 1, claim: { ...COMPLETING_LEASE, holder: 'frozen:1' } }), message),
        BOUND_MS,
      );
      assert.equal(again.pages, 5);
      assert.equal(again.created, 0);
      assert.equal(again.matched, 5);
    });

    it("the consumer's sync, which records the attempt on the same pool, returns too; the row is written once the link thaws", async () => {
      const { link, event, err } = await syncFrozenAtPage3(route, (deps, message, worker) =>
        createRecordedSync({
          sync: deps,
          history: { sql: worker.handle.sql, retentionDays: 30, log: silentLogger, recordWaitMs: 1_000 },
          metrics: createMetrics(),
          counted: new WeakSet(),
        })(message, new AbortController().signal),
      );

      assert.ok(err instanceof ClaimLostError, String(err));
      link.thaw();
      await until(
        'the attempt to be recorded',
        async () => (await eventHistory(sql, event.uid)).length === 1,
        BOUND_MS,
      );
      const [attempt] = await eventHistory(sql, event.uid);
      assert.equal(attempt?.outcome, 'failure');
      assert.equal(attempt?.errorKind, 'claim_lost');
    });
  });
}
