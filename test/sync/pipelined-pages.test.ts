/**
 * Issue 22: a sync sends page N+1's statement while page N's still runs, on one
 * connection (src/sync/page-connection.ts), so the database does not wait a round trip
 * between pages. What that must not cost, each forced: page 3's statement is held on a
 * row lock of the claim while page 4's is handed to the connection behind it; then page 3
 * completes, fails, or loses its connection. Every test runs directly and through
 * PgBouncer in transaction mode.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { HttpResponse } from 'msw';
import { createDatabase } from '../../src/db/client.ts';
import { DatabaseLimitError } from '../../src/db/database-limits.ts';
import { acquireClaim, fenceUpdate, releaseClaim } from '../../src/sync/claim.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { blockedBy, createGate, holdInTransaction, until, within } from '../support/faults.ts';
import { viaPgBouncer } from '../support/pgbouncer.ts';
import { guestsOf, seedEvent, seedMember, syncMessageFor } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const database = await createTestDatabase({ label: 'pipelined_pages' });
const { db, sql } = database;
const luma = useSimulatedLuma();

/** No renewals: only the page statements touch the claim's row while a test holds it. */
const NO_RENEWALS = { leaseSeconds: 60, holder: 'pipelined:1', renewEveryMs: 3_600_000 };

/** What a test waits for: a statement left unanswered would hang the sync. */
const SYNC_ENDS = 'the sync to end (a page statement left unanswered hangs it)';

const routes = [
  { name: 'PostgreSQL', url: database.url, pooler: 'none' as const },
  { name: 'PgBouncer (transaction mode)', url: viaPgBouncer(database.name), pooler: 'transaction' as const },
];

async function claimRow(eventUid: string) {
  const [row] = await sql<{ pages_done: number; free: boolean }[]>`
    SELECT pages_done, expires_at <= clock_timestamp() AS free FROM luma_guest_sync.event_claim
    WHERE event_uid = ${eventUid}`;
  return row;
}

async function syncedIds(eventUid: string) {
  return (await guestsOf(db, eventUid)).map((r) => r.externalGuestId).sort();
}

describe('a page written out of order', () => {
  it('writes nothing and is not held: page N only over page N - 1, page 1 over anything', async () => {
    const event = await seedEvent(db);
    const claim = await acquireClaim(db, event.uid, { leaseSeconds: 60 });
    const at = (pagesDone: number) => ({ nextCursor: `c${pagesDone + 1}`, pagesDone, externalEventId: 'evt' });
    const write = async (pagesDone: number) => (await db.execute(fenceUpdate(claim, at(pagesDone)))).length === 1;

    assert.equal(await write(2), false, 'page 2 before page 1');
    assert.equal((await claimRow(event.uid))?.pages_done, 0);
    assert.equal(await write(1), true);
    assert.equal(await write(3), false, 'page 3 after page 1');
    assert.equal(await write(2), true);
    assert.equal(await write(2), false, 'page 2 twice');
    assert.equal(await write(1), true, 'page 1 starts the list again, after any page');
    assert.equal((await claimRow(event.uid))?.pages_done, 1);
    // Renewals and the finish carry no checkpoint: the pages written do not matter to them.
    assert.equal((await db.execute(fenceUpdate(claim))).length, 1);
    await releaseClaim(db, claim, { clearCheckpoint: true });
  });
});

for (const route of routes) {
  describe(`pipelined page statements, ${route.name}`, () => {
    /**
     * A sync of five one-guest pages on a pool of one connection, stopped where page 3's
     * statement waits on the claim's row (held by this test) and page 4's has been handed
     * to the connection behind it. Page 3, not 2: page 1's statement has a shape of its
     * own, so page 2 is the first of the later pages' shape on the connection, which
     * postgres.js describes before sending anything behind it.
     */
    async function pipelinedAtPage3(
      options: {
        pages?: number;
        removeStale?: boolean;
        later?: (request: Request, pageNo: number) => Response | undefined;
      } = {},
    ) {
      const event = await seedEvent(db);
      const message = syncMessageFor(event);
      const members = await Promise.all(Array.from({ length: options.pages ?? 5 }, () => seedMember(db)));
      const gate = createGate();
      const page3Asked = createGate();
      const requested: number[] = [];
      luma.serve({
        events: { [message.externalEventId]: members.map((m, i) => ({ id: `gst-${i + 1}`, email: m.email! })) },
        fault: async (_request, pageNo) => {
          requested.push(pageNo);
          if (pageNo !== 3 || requested.filter((n) => n === 3).length > 1) return options.later?.(_request, pageNo);
          page3Asked.open();
          await gate.opened;
          return undefined;
        },
      });
      const isPage = (text: string) => text.includes('not_yet_guests');
      // Sent on the wire (postgres.js builds a statement as it writes it) …
      let sent = 0;
      const handle = createDatabase({
        url: route.url,
        poolMax: 1,
        pooler: route.pooler,
        onQuery: (q) => {
          if (isPage(q)) sent++;
        },
      });
      after(() => handle.close());
      // … and handed to the reserved connection, which may queue it.
      let handed = 0;
      const reserve = handle.sql.reserve.bind(handle.sql);
      handle.sql.reserve = async () => {
        const reserved = await reserve();
        const unsafe = reserved.unsafe.bind(reserved);
        reserved.unsafe = ((
          text: string,
          ...rest: Parameters<typeof unsafe> extends [string, ...infer R] ? R : never
        ) => {
          if (isPage(text)) handed++;
          return unsafe(text, ...rest);
        }) as typeof reserved.unsafe;
        return reserved;
      };
      const removeStale = options.removeStale ? { removeStale: { enabled: true, maxShare: 1 } } : {};
      const deps = syncDeps(handle.db, { pageSize: 1, claim: NO_RENEWALS, ...removeStale });
      const outcome = syncEvent(deps, message).then(
        (result) => ({ result, err: undefined }),
        (err: unknown) => ({ result: undefined, err: err as Error }),
      );

      await page3Asked.opened;
      await until('page 2 to be written', async () => (await claimRow(event.uid))?.pages_done === 2);
      const lock = await holdInTransaction(
        sql,
        (tx) => tx`SELECT 1 FROM luma_guest_sync.event_claim WHERE event_uid = ${event.uid} FOR UPDATE`,
      );
      gate.open();
      await until('page 3 to wait on the lock', async () => (await blockedBy(sql, lock.pid)) === 1);
      await until('page 4 to be handed to the connection behind page 3', () => handed === 4);
      return { event, message, members, deps, lock, outcome, sent: () => sent, requested };
    }

    /** Pipelined at page 3 with 8 pages, and every page after page 4 read while page 3's statement waits. */
    async function pagesWaitingBehindPage3() {
      const pipelined = await pipelinedAtPage3({ pages: 8, removeStale: true });
      await until('pages 5 to 8 to be read', () => pipelined.requested.includes(8));
      return pipelined;
    }

    it("hands page 4's statement to the connection before page 3's is answered, and all are written in order", async () => {
      const { event, lock, outcome, sent } = await pipelinedAtPage3();

      assert.equal((await claimRow(event.uid))?.pages_done, 2, 'page 3 has not been answered');
      // Directly, page 4's statement is on the wire behind page 3's; behind the pooler,
      // unprepared statements are described first, so it waits in the driver.
      assert.equal(sent(), route.pooler === 'none' ? 4 : 3);
      await lock.release();
      const { result, err } = await within(SYNC_ENDS, outcome);

      assert.equal(err, undefined);
      assert.equal(result?.created, 5);
      assert.equal(sent(), 5, 'one statement a page');
      assert.deepEqual(await syncedIds(event.uid), ['gst-1', 'gst-2', 'gst-3', 'gst-4', 'gst-5']);
      assert.equal((await claimRow(event.uid))?.free, true);
    });

    it('a page that fails stops the page sent behind it: nothing of page 4 is written, and the next attempt resumes at page 3', async () => {
      const { event, message, deps, lock, outcome } = await pipelinedAtPage3();

      const [cancelled] = await sql<{ ok: boolean }[]>`
        SELECT pg_cancel_backend(pid) AS ok FROM pg_stat_activity WHERE ${lock.pid}::int = ANY(pg_blocking_pids(pid))`;
      assert.equal(cancelled?.ok, true);
      await lock.release();
      const { err } = await within(SYNC_ENDS, outcome);

      assert.ok(err instanceof DatabaseLimitError, String(err));
      assert.equal(err.kind, 'query_canceled');
      assert.match(err.message, /page 3/);
      assert.deepEqual(
        await syncedIds(event.uid),
        ['gst-1', 'gst-2'],
        'page 4 ran after page 3 failed, and wrote nothing',
      );
      assert.equal((await claimRow(event.uid))?.pages_done, 2);

      const resumed = await syncEvent(deps, message);
      assert.equal(resumed.resumedAtPage, 3);
      assert.equal(resumed.created, 3);
      assert.deepEqual(await syncedIds(event.uid), ['gst-1', 'gst-2', 'gst-3', 'gst-4', 'gst-5']);
    });

    it('puts the pages read while page 3 waits in one statement: each page written and listed as its own', async () => {
      const { event, members, deps, lock, outcome, sent } = await pagesWaitingBehindPage3();
      // Stale removal's record of the read, as the finish finds it (a completed sync clears it).
      let listed: { page: number; guest_ids: string[]; member_uids: string[]; fetched: number }[] = [];
      deps.hooks = {
        beforeFinish: async () => {
          listed = await sql`
            SELECT page, guest_ids, member_uids, fetched FROM luma_guest_sync.listed_page
            WHERE event_uid = ${event.uid} ORDER BY page`;
        },
      };

      assert.equal((await claimRow(event.uid))?.pages_done, 2, 'page 3 has not been answered');
      await lock.release();
      const { result, err } = await within(SYNC_ENDS, outcome);

      assert.equal(err, undefined);
      assert.equal(result?.created, 8);
      assert.equal(result?.pages, 8);
      assert.equal(sent(), 5, 'pages 1, 2, 3 and 4 alone, then pages 5 to 8 together');
      assert.deepEqual(await syncedIds(event.uid), [
        'gst-1',
        'gst-2',
        'gst-3',
        'gst-4',
        'gst-5',
        'gst-6',
        'gst-7',
        'gst-8',
      ]);
      // One row per page, with its own guest and member.
      assert.deepEqual(
        listed.map((row) => [row.page, row.guest_ids, row.member_uids, row.fetched]),
        members.map((m, i) => [i + 1, [`gst-${i + 1}`], [m.uid], 1]),
      );
    });

    it('pages sent together behind a page that fails write nothing, and the next attempt resumes at that page', async () => {
      const { event, message, deps, lock, outcome, sent } = await pagesWaitingBehindPage3();

      await sql`
        SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE ${lock.pid}::int = ANY(pg_blocking_pids(pid))`;
      await lock.release();
      const { err } = await within(SYNC_ENDS, outcome);

      assert.ok(err instanceof DatabaseLimitError, String(err));
      assert.match(err.message, /page 3/);
      assert.ok(sent() <= 5, `${sent()} page statements: pages 5 to 8 were sent at most once, together`);
      assert.deepEqual(await syncedIds(event.uid), ['gst-1', 'gst-2']);
      assert.equal((await claimRow(event.uid))?.pages_done, 2);

      const resumed = await syncEvent(deps, message);
      assert.equal(resumed.resumedAtPage, 3);
      assert.equal(resumed.created, 6);
      assert.equal(resumed.removed, 0);
      assert.deepEqual(await syncedIds(event.uid), [
        'gst-1',
        'gst-2',
        'gst-3',
        'gst-4',
        'gst-5',
        'gst-6',
        'gst-7',
        'gst-8',
      ]);
    });

    it('pages read before Luma fails are written: the next attempt resumes at the page that failed', async () => {
      let failing = true;
      const { event, message, deps, lock, outcome, requested } = await pipelinedAtPage3({
        pages: 8,
        later: (_request, pageNo) =>
          pageNo === 7 && failing ? HttpResponse.json({ message: 'bad request' }, { status: 400 }) : undefined,
      });
      await until('page 7 to be asked for', () => requested.includes(7));
      await lock.release();
      const { err } = await within(SYNC_ENDS, outcome);

      assert.ok(err instanceof Error, 'the sync failed on page 7');
      assert.deepEqual(await syncedIds(event.uid), ['gst-1', 'gst-2', 'gst-3', 'gst-4', 'gst-5', 'gst-6']);
      assert.equal((await claimRow(event.uid))?.pages_done, 6);
      failing = false;
      const resumed = await syncEvent(deps, message);
      assert.equal(resumed.resumedAtPage, 7);
      assert.equal(resumed.created, 2);
    });

    it('a read that restarts at page 1 while pages wait drops them, and writes and lists the new read whole', async () => {
      let refused = 0;
      const { event, deps, lock, outcome, requested } = await pipelinedAtPage3({
        pages: 8,
        removeStale: true,
        later: (_request, pageNo) => {
          if (pageNo !== 7 || refused > 0) return undefined;
          refused++;
          return HttpResponse.json({ message: 'cursor expired' }, { status: 410 });
        },
      });
      let listed: number[] = [];
      deps.hooks = {
        beforeFinish: async () => {
          const rows = await sql<{ page: number }[]>`
            SELECT page FROM luma_guest_sync.listed_page WHERE event_uid = ${event.uid} ORDER BY page`;
          listed = rows.map((r) => r.page);
        },
      };
      await until('the list to be read again from page 1', () => requested.lastIndexOf(1) > 0);
      await lock.release();
      const { result, err } = await within(SYNC_ENDS, outcome);

      assert.equal(err, undefined);
      assert.equal(refused, 1);
      assert.equal(result?.created, 8);
      assert.equal(result?.fetched, 8, 'the new read, counted once');
      assert.equal(result?.removed, 0);
      assert.deepEqual(listed, [1, 2, 3, 4, 5, 6, 7, 8]);
      assert.deepEqual(await syncedIds(event.uid), [
        'gst-1',
        'gst-2',
        'gst-3',
        'gst-4',
        'gst-5',
        'gst-6',
        'gst-7',
        'gst-8',
      ]);
    });

    it('a connection lost under two page statements fails the sync, not the process, and the pool of one connects again', async () => {
      const { event, message, deps, lock, outcome } = await pipelinedAtPage3();

      await sql`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE ${lock.pid}::int = ANY(pg_blocking_pids(pid))`;
      await lock.release();
      const { err } = await within(SYNC_ENDS, outcome);

      assert.ok(err instanceof Error, 'the sync failed');
      assert.deepEqual(await syncedIds(event.uid), ['gst-1', 'gst-2']);
      // Released at once, though the pool's next statement may meet the lost session's end
      // (repeat-on-connection-loss.ts; lost-connection-followups.test.ts has the cases).
      assert.equal((await claimRow(event.uid))?.free, true, 'the claim was released, its 60 s lease not waited for');
      // The one connection was lost while reserved: handing it back would leave the pool a
      // dead connection, and the next statement on it would end the process.
      const resumed = await syncEvent(deps, message);
      assert.equal(resumed.resumedAtPage, 3);
      assert.deepEqual(await syncedIds(event.uid), ['gst-1', 'gst-2', 'gst-3', 'gst-4', 'gst-5']);
    });
  });
}
