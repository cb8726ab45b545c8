/**
 * Issue 19, part 2: an interrupted sync resumes from the checkpoint its last written page
 * recorded, spending at most one Luma page again; a resumed sync removes stale guests from
 * the list its attempts recorded page by page (issue 22; resumed-removal.test.ts has the
 * cases that could go wrong); a refused cursor restarts the list once.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { HttpResponse } from 'msw';
import { createDatabase } from '../../src/db/client.ts';
import { SyncDeferredError } from '../../src/errors.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { until } from '../support/faults.ts';
import { viaPgBouncer } from '../support/pgbouncer.ts';
import { guestsOf, seedEventWithLeaver } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const { db, sql, name } = await createTestDatabase({ label: 'resume' });
const luma = useSimulatedLuma();
const removeStale = { enabled: true, maxShare: 1 };

async function checkpoint(eventUid: string) {
  const [row] = await sql<{ next_cursor: string | null; pages_done: number; free: boolean }[]>`
    SELECT next_cursor, pages_done, expires_at <= clock_timestamp() AS free
    FROM luma_guest_sync.event_claim WHERE event_uid = ${eventUid}`;
  return row;
}

/** The syncs through PgBouncer in transaction mode (1.18: no named prepared statements). */
const pooled = createDatabase({ url: viaPgBouncer(name), poolMax: 3, pooler: 'transaction' });
after(() => pooled.close());

describe('resuming an interrupted sync', () => {
  for (const [route, handle] of [
    ['PostgreSQL', db],
    ['PgBouncer (transaction mode)', pooled.db],
  ] as const) {
    it(`after a shutdown at page k, resumes at the page after the last one written, re-spending at most one page (through ${route})`, async () => {
      const pages = 6;
      const k = 3;
      const { event, message, list } = await seedEventWithLeaver(db, pages);
      const stop = new AbortController();
      const requested: number[] = [];
      luma.serve({
        events: { [message.externalEventId]: list },
        onRequest: (_request, pageNo) => {
          requested.push(pageNo);
          // The shutdown arrives while page k is being written (page k+1 is already on its way).
          if (pageNo === k + 1 && !stop.signal.aborted) stop.abort(new Error('consumer stopped'));
        },
      });
      const deps = syncDeps(handle, { pageSize: 1, removeStale });

      await assert.rejects(syncEvent(deps, message, { signal: stop.signal }), /consumer stopped/);
      const kept = await checkpoint(event.uid);
      assert.equal(kept?.free, true, 'the claim is released at once, not left to its lease');
      assert.ok(kept?.next_cursor, 'the checkpoint is kept');
      assert.equal(kept?.pages_done, k, `page ${k} finished and was recorded`);

      const firstAttempt = requested.length;
      const result = await syncEvent(deps, message);

      assert.equal(result.resumedAtPage, k + 1);
      assert.equal(result.staleGuard, undefined, 'the pages before the resume are recorded: removal runs');
      assert.equal(result.removed, 1, 'the stale row, and only it');
      const respent = requested.length - pages;
      assert.ok(respent <= 1, `re-spent ${respent} page(s): ${requested.join(',')} (${firstAttempt} before the stop)`);
      const rows = (await guestsOf(db, event.uid)).map((r) => r.externalGuestId);
      assert.equal(rows.length, pages, 'every guest added, the stale row removed');
      assert.ok(!rows.includes('gst-gone'));
      const cleared = await checkpoint(event.uid);
      assert.deepEqual(
        [cleared?.next_cursor, cleared?.pages_done],
        [null, 0],
        'a completed sync clears the checkpoint',
      );

      // The next sync reads the list whole again and finds nothing more to remove.
      const complete = await syncEvent(deps, message);
      assert.equal(complete.resumedAtPage, undefined);
      assert.equal(complete.removed, 0);
    });
  }

  it('reads the list from page 1 when Luma refuses the checkpoint cursor, and then removes stale rows', async () => {
    const { event, message, list } = await seedEventWithLeaver(db, 4);
    const stop = new AbortController();
    let refuseCursors = false;
    let refusedOnce = 0;
    luma.serve({
      events: { [message.externalEventId]: list },
      onRequest: (_request, pageNo) => {
        if (pageNo === 3 && !stop.signal.aborted) stop.abort(new Error('consumer stopped'));
      },
      fault: (request) => {
        if (!refuseCursors || refusedOnce > 0 || !new URL(request.url).searchParams.has('pagination_cursor')) {
          return undefined;
        }
        refusedOnce++;
        return HttpResponse.json({ message: 'cursor expired' }, { status: 410 });
      },
    });
    const deps = syncDeps(db, { pageSize: 1, removeStale });
    await assert.rejects(syncEvent(deps, message, { signal: stop.signal }));
    assert.equal((await checkpoint(event.uid))?.pages_done, 2);

    refuseCursors = true;
    const result = await syncEvent(deps, message);

    assert.equal(refusedOnce, 1);
    assert.equal(result.resumedAtPage, undefined, 'read whole from page 1');
    assert.equal(result.staleGuard, undefined);
    assert.equal(result.removed, 1, 'the complete read removed the stale row');
    assert.equal(result.fetched, 4);
  });

  it('does not resume a cursor of another Luma event after the event was relinked', async () => {
    const { event, message, list } = await seedEventWithLeaver(db, 3);
    const stop = new AbortController();
    luma.serve({
      events: { [message.externalEventId]: list, 'evt-relinked': list },
      onRequest: (_request, pageNo) => {
        if (pageNo === 3 && !stop.signal.aborted) stop.abort(new Error('consumer stopped'));
      },
    });
    const deps = syncDeps(db, { pageSize: 1 });
    await assert.rejects(syncEvent(deps, message, { signal: stop.signal }));
    assert.ok((await checkpoint(event.uid))?.next_cursor);
    await sql`UPDATE "PLEvent" SET "externalEventId" = 'evt-relinked' WHERE uid = ${event.uid}`;

    const result = await syncEvent(deps, { ...message, externalEventId: 'evt-relinked' });
    assert.equal(result.resumedAtPage, undefined);
    assert.equal(result.pages, 3);
  });

  it('defers instead of sleeping through a Retry-After beyond the bound, releasing the claim and keeping the checkpoint', async () => {
    const { event, message, list } = await seedEventWithLeaver(db, 3);
    let requests = 0;
    luma.serve({
      events: { [message.externalEventId]: list },
      fault: (_request, pageNo) => {
        requests++;
        return pageNo === 2 ? new HttpResponse(null, { status: 429, headers: { 'retry-after': '600' } }) : undefined;
      },
    });
    const deps = syncDeps(db, { pageSize: 1, maxWaitInSyncSeconds: 120 });

    const err = await syncEvent(deps, message).then(
      () => assert.fail('expected a deferral'),
      (e: unknown) => e,
    );

    assert.ok(err instanceof SyncDeferredError, String(err));
    assert.equal(err.delaySeconds, 600);
    assert.match(err.message, /LUMA_MAX_WAIT_IN_SYNC_SECONDS \(120\)/);
    assert.equal(requests, 2, 'pages 1 and 2 (429), and no retry after the long wait');
    await until('the claim released', async () => (await checkpoint(event.uid))?.free === true);
    assert.equal((await checkpoint(event.uid))?.pages_done, 1, 'checkpoint kept for the next attempt');
  });
});
