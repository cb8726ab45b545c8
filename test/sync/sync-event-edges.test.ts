/**
 * What syncEvent itself decides, beyond the rows it writes: what it reports and logs for
 * the operator, how it holds its claim (renewals at the interval given, page writes that
 * renew it, a dry run that does not), how it stops once the claim is gone, and what it
 * does when its claim cannot be released. Each test fails under a mutant of
 * src/sync/sync-event.ts that the other sync tests let through (docs/mutation.md).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Db } from '../../src/db/client.ts';
import * as schema from '../../src/db/schema.ts';
import { isPermanent } from '../../src/errors.ts';
import type { SimGuest } from '../../src/local/luma-simulator.ts';
import { ClaimLostError } from '../../src/sync/claim.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { blockedBy, type Hold, holdInTransaction, until } from '../support/faults.ts';
import { seedEvent, seedGuest, seedLocation, seedMember, syncMessageFor } from '../support/seed.ts';
import { captureLogger, type LogLine } from '../support/sqs-queue.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const { db, sql } = await createTestDatabase({ label: 'sync_event_edges' });
const luma = useSimulatedLuma();

const DEBUG = 20;
const INFO = 30;
const WARN = 40;

async function eventWithList(count: number) {
  const event = await seedEvent(db);
  const members = await Promise.all(Array.from({ length: count }, () => seedMember(db)));
  const message = syncMessageFor(event);
  const list: SimGuest[] = members.map((m, i) => ({ id: `gst-${event.uid}-${i}`, email: m.email! }));
  return { event, members, message, list };
}

/** The claim's row as the database has it now (times in epoch ms, by the database's clock). */
async function claimRow(eventUid: string) {
  const [row] = await sql<{ holder: string; expires_ms: number; remaining_ms: number; pages_done: number }[]>`
    SELECT holder, (extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms,
      (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::float8 AS remaining_ms, pages_done
    FROM luma_guest_sync.event_claim WHERE event_uid = ${eventUid}`;
  return row;
}

const withMsg = (lines: LogLine[], msg: string) => lines.filter((line) => line.msg === msg);

/** A sync stopped (by its caller) once `pagesDone` pages are written, so that the next one resumes. */
async function interruptAfter(
  deps: Parameters<typeof syncEvent>[0],
  message: Parameters<typeof syncEvent>[1],
  list: SimGuest[],
  pagesDone: number,
) {
  const stop = new AbortController();
  luma.serve({
    events: { [message.externalEventId]: list },
    onRequest: (_request, pageNo) => {
      if (pageNo === pagesDone + 1 && !stop.signal.aborted) stop.abort(new Error('consumer stopped'));
    },
  });
  await assert.rejects(syncEvent(deps, message, { signal: stop.signal }), /consumer stopped/);
  assert.equal((await claimRow(message.eventUid))?.pages_done, pagesDone);
}

describe('syncEvent: what it reports, logs and does with its claim', () => {
  it('reports exactly what it did, and logs the claim, the start, each page and the result under its name', async () => {
    const { event, members, message, list } = await eventWithList(3);
    luma.serve({
      events: { [message.externalEventId]: [...list, { id: 'gst-stranger', email: 'stranger@edges.org' }] },
    });
    const { log, lines } = captureLogger();

    const before = performance.now();
    const result = await syncEvent(
      syncDeps(db, { pageSize: 2, log, claim: { leaseSeconds: 60, holder: 'edges-holder' } }),
      message,
    );
    const elapsed = performance.now() - before;

    const { durationMs, ...rest } = result;
    assert.deepEqual(rest, {
      eventUid: event.uid,
      providerType: 'LUMA',
      pages: 2,
      fetched: 4,
      matched: 3,
      created: 3,
      skipped: 0,
      removed: 0,
      dryRun: false,
    });
    assert.ok(
      durationMs >= 0 && durationMs <= Math.ceil(elapsed),
      `durationMs ${durationMs} within the call's ${elapsed} ms`,
    );
    assert.equal(members.length, 3);

    assert.ok(lines.length > 0);
    for (const line of lines) {
      assert.equal(line.component, 'PLEventGuestSyncService', `component of "${line.msg}"`);
      assert.equal(line.eventUid, event.uid, `eventUid of "${line.msg}"`);
    }
    const [taken] = withMsg(lines, 'claim taken');
    assert.equal(taken?.level, DEBUG);
    assert.equal(taken?.holder, 'edges-holder');
    assert.match(String(taken?.token), /^\d+$/);
    assert.equal(taken?.checkpoint, null);
    const [start] = withMsg(lines, 'sync start');
    assert.equal(start?.level, INFO);
    assert.deepEqual(
      [start?.providerType, start?.externalEventId, start?.dryRun, 'resumeAtPage' in start!],
      ['LUMA', message.externalEventId, false, false],
    );
    assert.deepEqual(
      withMsg(lines, 'page processed').map(({ level, page, fetched, matched, created, skipped }) => ({
        level,
        page,
        fetched,
        matched,
        created,
        skipped,
      })),
      [
        { level: DEBUG, page: 1, fetched: 2, matched: 2, created: 2, skipped: 0 },
        { level: DEBUG, page: 2, fetched: 2, matched: 1, created: 1, skipped: 0 },
      ],
    );
    const [complete] = withMsg(lines, 'sync complete');
    assert.equal(complete?.level, INFO);
    assert.deepEqual(
      [
        complete?.pages,
        complete?.fetched,
        complete?.matched,
        complete?.created,
        complete?.removed,
        complete?.durationMs,
      ],
      [2, 4, 3, 3, 0, durationMs],
    );
    // Nothing ambiguous, nothing moved, no guard, no claim trouble: no other lines.
    assert.deepEqual(
      lines.map((line) => line.msg),
      ['claim taken', 'sync start', 'page processed', 'page processed', 'sync complete'],
    );
  });

  it('logs a resumed start with its page and the checkpoint it was granted, and says so in the result', async () => {
    const { event, message, list } = await eventWithList(4);
    const deps = syncDeps(db, { pageSize: 1 });
    await interruptAfter(deps, message, list, 2);
    luma.serve({ events: { [message.externalEventId]: list } });
    const { log, lines } = captureLogger();

    const result = await syncEvent({ ...deps, log }, message);

    assert.equal(result.resumedAtPage, 3);
    const [taken] = withMsg(lines, 'claim taken');
    const { nextCursor, ...granted } = (taken?.checkpoint ?? {}) as Record<string, unknown>;
    assert.equal(typeof nextCursor, 'string');
    assert.deepEqual(granted, { pagesDone: 2, externalEventId: message.externalEventId });
    const [start] = withMsg(lines, 'sync start: resuming from the checkpoint');
    assert.equal(start?.level, INFO);
    assert.equal(start?.resumeAtPage, 3);
    assert.deepEqual(withMsg(lines, 'sync start'), []);
    assert.equal(event.uid, message.eventUid);
  });

  it('never sends the checkpoint cursor of the Luma event the directory event was linked to before', async () => {
    const { event, message, list } = await eventWithList(3);
    const deps = syncDeps(db, { pageSize: 1 });
    await interruptAfter(deps, message, list, 2);
    const relinked = `evt-relinked-${event.uid}`;
    await db.update(schema.plEvent).set({ externalEventId: relinked }).where(eq(schema.plEvent.uid, event.uid));
    const cursors: Array<string | null> = [];
    luma.serve({
      events: { [relinked]: list },
      onRequest: (request) => cursors.push(new URL(request.url).searchParams.get('pagination_cursor')),
    });

    const result = await syncEvent(deps, { ...message, externalEventId: relinked });

    assert.equal(cursors[0], null, 'the new event’s list is read from its first page');
    assert.equal(cursors.length, 3, 'three pages, no request spent on the old event’s cursor');
    assert.equal(result.created, 1, 'the member of page 3; pages 1 and 2 were written by the interrupted sync');
  });

  it('logs the locations synced rows left when the event moved, and nothing about a move otherwise', async () => {
    const { event, message, list } = await eventWithList(2);
    luma.serve({ events: { [message.externalEventId]: list } });
    await syncEvent(syncDeps(db), message);
    const from = event.locationUid!;
    const to = (await seedLocation(db)).uid;
    await db.update(schema.plEvent).set({ locationUid: to }).where(eq(schema.plEvent.uid, event.uid));
    const moved = captureLogger();
    const stayed = captureLogger();

    await syncEvent(syncDeps(db, { log: moved.log }), { ...message, locationUid: to });
    await syncEvent(syncDeps(db, { log: stayed.log }), { ...message, locationUid: to });

    const line = 'event moved: synced guests follow it to its current location';
    assert.deepEqual(
      withMsg(moved.lines, line).map(({ level, moved, leftLocationUids }) => ({ level, moved, leftLocationUids })),
      [{ level: INFO, moved: 2, leftLocationUids: [from] }],
    );
    assert.deepEqual(withMsg(stayed.lines, line), []);
  });

  it('warns about a guest whose email matches several members, naming the page and the guest', async () => {
    const event = await seedEvent(db);
    const message = syncMessageFor(event);
    const local = `twin-${event.uid}`;
    await seedMember(db, { email: `${local.toUpperCase()}@EDGES.ORG` });
    await seedMember(db, { email: `${local}@edges.org` });
    const single = await seedMember(db);
    luma.serve({
      events: {
        [message.externalEventId]: [
          { id: 'gst-single', email: single.email! },
          { id: 'gst-twin', email: `${local}@edges.org` },
        ],
      },
    });
    const { log, lines } = captureLogger();

    const result = await syncEvent(syncDeps(db, { pageSize: 1, log }), message);

    assert.equal(result.ambiguous, 1);
    assert.deepEqual(
      withMsg(lines, 'guest email matches several members: one added').map(({ level, page, externalGuestIds }) => ({
        level,
        page,
        externalGuestIds,
      })),
      [{ level: WARN, page: 2, externalGuestIds: ['gst-twin'] }],
    );
  });

  it('warns with the figures when a removal guard trips, tells the observer, and copes with an observer without the hook', async () => {
    const { event, message, list } = await eventWithList(4);
    luma.serve({ events: { [message.externalEventId]: list } });
    await syncEvent(syncDeps(db), message);
    luma.serve({ events: { [message.externalEventId]: list.slice(2) } });
    const guards: string[] = [];
    const { log, lines } = captureLogger();
    const removeStale = { enabled: true, maxShare: 0.25 };

    const tripped = await syncEvent(
      syncDeps(db, { removeStale, log, observer: { staleGuard: (guard) => guards.push(guard) } }),
      message,
    );
    const quiet = await syncEvent(syncDeps(db, { removeStale, observer: {} }), message);

    assert.deepEqual([tripped.staleGuard, quiet.staleGuard], ['share_exceeded', 'share_exceeded']);
    assert.deepEqual(guards, ['share_exceeded']);
    const warnings = withMsg(lines, 'stale guests kept: removal guard tripped');
    assert.deepEqual(
      warnings.map(({ level, synced, stale, removed, guard, skipped, unidentified, fetched, maxShare }) => ({
        level,
        synced,
        stale,
        removed,
        guard,
        skipped,
        unidentified,
        fetched,
        maxShare,
      })),
      [
        {
          level: WARN,
          synced: 4,
          stale: 2,
          removed: 0,
          guard: 'share_exceeded',
          skipped: 0,
          unidentified: 0,
          fetched: 2,
          maxShare: 0.25,
        },
      ],
    );
    assert.equal(withMsg(lines, 'sync complete').length, 1);
    assert.equal(event.uid, message.eventUid);
  });

  it('says at info level, with the pages, why a resumed read removed nothing, and warns about no guard', async () => {
    const { message, list } = await eventWithList(4);
    // Removal was off for the first attempt: its pages were written without the list.
    await interruptAfter(syncDeps(db, { pageSize: 1 }), message, list, 2);
    luma.serve({ events: { [message.externalEventId]: list } });
    const { log, lines } = captureLogger();

    const result = await syncEvent(
      syncDeps(db, { pageSize: 1, log, removeStale: { enabled: true, maxShare: 1 } }),
      message,
    );

    assert.equal(result.staleGuard, 'resumed');
    const skipped = lines.filter((line) => String(line.msg).startsWith('stale removal skipped'));
    assert.deepEqual(
      skipped.map(({ level, resumedAtPage, lastPage }) => ({ level, resumedAtPage, lastPage })),
      [{ level: INFO, resumedAtPage: 3, lastPage: 4 }],
    );
    assert.deepEqual(withMsg(lines, 'stale guests kept: removal guard tripped'), []);
  });

  it('in a dry run, lists nothing to remove for a member still on the list under another Luma guest id', async () => {
    const { event, members, message, list } = await eventWithList(2);
    // The member registered again on Luma: a new guest id, the old one gone from the list.
    await seedGuest(db, {
      eventUid: event.uid,
      locationUid: event.locationUid!,
      memberUid: members[0]!.uid,
      externalGuestId: 'gst-before-registering-again',
    });
    luma.serve({ events: { [message.externalEventId]: list } });

    const result = await syncEvent(syncDeps(db, { removeStale: { enabled: true, maxShare: 1 } }), message, {
      dryRun: true,
    });

    assert.equal(result.removed, 0);
    assert.equal(result.staleToRemove, undefined);
    assert.equal(result.staleGuard, undefined);
  });

  it('runs with test hooks that leave the finish hook out', async () => {
    const { message, list } = await eventWithList(1);
    luma.serve({ events: { [message.externalEventId]: list } });

    const result = await syncEvent(syncDeps(db, { hooks: {} }), message);

    assert.equal(result.created, 1);
  });

  it('renews its claim at the interval it is given while it runs', async () => {
    const { event, message, list } = await eventWithList(1);
    luma.serve({ events: { [message.externalEventId]: list } });
    const deps = syncDeps(db, {
      // By default a 600 s lease is renewed every 200 s: only the given interval renews within the wait.
      claim: { leaseSeconds: 600, renewEveryMs: 20 },
      hooks: {
        beforeFinish: async () => {
          const written = (await claimRow(event.uid))!.expires_ms;
          await until('a renewal after the last page', async () => (await claimRow(event.uid))!.expires_ms > written);
        },
      },
    });

    const result = await syncEvent(deps, message);

    assert.equal(result.created, 1);
  });

  it('stops renewing when the finish begins: a renewal then only waits on the finish’s lock, holding a connection', async () => {
    const { event, message, list } = await eventWithList(1);
    luma.serve({ events: { [message.externalEventId]: list } });
    let finishing = false;
    let renewalsWhileFinishing = 0;
    let eventRow: Hold | undefined;
    const deps = syncDeps(
      watchRenewals(db, () => {
        if (finishing) renewalsWhileFinishing++;
      }),
      {
        claim: { leaseSeconds: 600, renewEveryMs: 25 },
        hooks: {
          // The directory holds the event's row: the finish waits on it, holding the claim's row.
          // Nothing runs between this hook's return and the finish's start but the sync's own
          // code (no timer fires between the two), so a renewal sent after it is the hold's fault.
          beforeFinish: async () => {
            eventRow = await holdInTransaction(
              sql,
              (tx) => tx`SELECT 1 FROM "PLEvent" WHERE uid = ${event.uid} FOR UPDATE`,
            );
            finishing = true;
          },
        },
      },
    );

    const syncing = syncEvent(deps, message);
    await until(
      'the finish waiting on the event row',
      async () => !!eventRow && (await blockedBy(sql, eventRow.pid)) > 0,
    );
    // Eight renewal intervals: a hold still running would have sent several by now.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await eventRow!.release();
    const result = await syncing;

    assert.equal(renewalsWhileFinishing, 0);
    assert.equal(result.created, 1);
  });

  it('stops renewing once a failed sync has ended', async () => {
    const { event, message } = await eventWithList(1);
    await db.update(schema.plEvent).set({ locationUid: null }).where(eq(schema.plEvent.uid, event.uid));
    let ended = false;
    let renewalsAfterEnd = 0;
    const deps = syncDeps(
      watchRenewals(db, () => {
        if (ended) renewalsAfterEnd++;
      }),
      { claim: { leaseSeconds: 600, renewEveryMs: 25 } },
    );

    await assert.rejects(
      syncEvent(deps, message),
      (err: Error & { kind?: string }) => err.kind === 'event_without_location',
    );
    ended = true;
    // Eight renewal intervals: a hold still running would have sent several by now.
    await new Promise((resolve) => setTimeout(resolve, 200));

    assert.equal(renewalsAfterEnd, 0);
    assert.equal((await claimRow(event.uid))!.remaining_ms <= 0, true, 'released');
  });

  // The hold gives the sync up when nothing renewed the claim for a whole lease. Renewals are
  // kept out (an interval far beyond the test); pages arrive every 400 ms for longer than the
  // 3 s lease, so only what each page write tells the hold keeps the sync going.
  const slowPages = async (dryRun: boolean) => {
    const { message, list } = await eventWithList(10);
    const requested: number[] = [];
    luma.serve({
      events: { [message.externalEventId]: list },
      latencyMs: 400,
      onRequest: (_request, pageNo) => requested.push(pageNo),
    });
    const deps = syncDeps(db, { pageSize: 1, claim: { leaseSeconds: 3, renewEveryMs: 600_000 } });
    const outcome = await syncEvent(deps, message, { dryRun }).then(
      (result) => result,
      (err: unknown) => err,
    );
    return { outcome, requested };
  };

  it('keeps a sync going past its lease while each page write renews the claim', async () => {
    const { outcome } = await slowPages(false);

    assert.ok(!(outcome instanceof Error), String(outcome));
    assert.equal((outcome as { created: number }).created, 10);
  });

  it('stops a dry run whose claim nothing renewed for a lease: reading pages writes nothing, so renews nothing', async () => {
    const { outcome, requested } = await slowPages(true);

    assert.ok(outcome instanceof ClaimLostError, String(outcome));
    assert.ok(requested.length < 10, `stopped before the end of the list (${requested.length} pages read)`);
  });

  it('stops reading Luma at the first page it could not write once another sync took the claim over', async () => {
    const { event, message, list } = await eventWithList(12);
    const requested: number[] = [];
    luma.serve({
      events: { [message.externalEventId]: list },
      fault: async (_request, pageNo) => {
        requested.push(pageNo);
        if (pageNo === 2) {
          // This sync's lease ran out (a long pause) and another sync claimed the event.
          await sql`UPDATE luma_guest_sync.event_claim
            SET token = nextval('luma_guest_sync.event_claim_token'), holder = 'the-other-sync',
              expires_at = clock_timestamp() + interval '600 seconds'
            WHERE event_uid = ${event.uid}`;
        }
        return undefined;
      },
    });
    const { log, lines } = captureLogger();

    const err = await syncEvent(syncDeps(db, { pageSize: 1, log, statementGuests: 2 }), message).then(
      () => assert.fail('expected the claim to be lost'),
      (e: unknown) => e,
    );

    assert.ok(err instanceof ClaimLostError, String(err));
    // Page 2's statement finds the claim gone. One more statement may be out behind it
    // (page statements are pipelined), carrying up to one statement's worth (2 guests
    // here): page 3 alone, or pages 3 and 4 when page 1's answer came after page 4 was
    // read (a loaded machine: CI saw it). Then one statement's worth waits to be sent
    // (pages 4-5, or 5-6) and one page downloads ahead: nothing after page 7.
    assert.ok(Math.max(...requested) <= 7, `pages read: ${requested.join(', ')}`);
    assert.equal((await claimRow(event.uid))?.holder, 'the-other-sync', 'the new holder keeps the claim');
    const lost = withMsg(lines, 'claim lost');
    assert.equal(lost.length, 1);
    assert.equal(lost[0]?.level, WARN);
    assert.match(String(lost[0]?.token), /^\d+$/);
    assert.equal(lost[0]?.reason, err.message);
  });

  it('throws why the sync failed even when the claim cannot be released, which then frees itself at its lease end', async () => {
    const { event, message } = await eventWithList(1);
    await db.update(schema.plEvent).set({ locationUid: null }).where(eq(schema.plEvent.uid, event.uid));
    const refused = new Error('connection lost while releasing');
    const { log, lines } = captureLogger();

    const err = await syncEvent(syncDeps(failingRelease(db, refused), { log }), message).then(
      () => assert.fail('expected the sync to fail'),
      (e: unknown) => e,
    );

    assert.ok(isPermanent(err) && err.kind === 'event_without_location', String(err));
    const warnings = withMsg(lines, 'could not release the claim: it frees itself when its lease ends');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.level, WARN);
    assert.equal((warnings[0]?.err as { message?: string } | undefined)?.message, refused.message);
    assert.ok((await claimRow(event.uid))!.remaining_ms > 0, 'still claimed until its lease ends');
    // Not a lost claim: no line says so.
    assert.deepEqual(withMsg(lines, 'claim lost'), []);
  });
});

const dialect = new PgDialect();
type Query = Parameters<Db['execute']>[0];
const textOf = (query: Query) => dialect.sqlToQuery(query as Parameters<PgDialect['sqlToQuery']>[0]).sql;

/** The database with `execute` (the statements of the claim) replaced; the rest as it is. */
function withExecute(real: Db, execute: (query: Query, text: string) => ReturnType<Db['execute']>): Db {
  return new Proxy(real, {
    get(target, property, receiver) {
      if (property === 'execute') return (query: Query) => execute(query, textOf(query));
      const value = Reflect.get(target, property, receiver);
      // $client, the postgres.js pool, is a function with properties a bound copy lacks.
      return typeof value === 'function' && property !== '$client' ? value.bind(target) : value;
    },
  });
}

/** The database, telling `onRenewal` each time a claim renewal (claim-hold.ts) is sent on it. */
function watchRenewals(real: Db, onRenewal: () => void): Db {
  return withExecute(real, (query, text) => {
    // A renewal is the bare fencing UPDATE: no checkpoint, not inside a page statement.
    if (
      /^\s*UPDATE luma_guest_sync\.event_claim\b/.test(text) &&
      /RETURNING 1 AS held/.test(text) &&
      !/next_cursor/.test(text)
    )
      onRenewal();
    return real.execute(query);
  });
}

/** The database, except that releasing a claim fails (a connection lost at that moment). */
function failingRelease(real: Db, error: Error): Db {
  return withExecute(real, (query, text) =>
    /RETURNING 1 AS released/.test(text) ? (Promise.reject(error) as ReturnType<Db['execute']>) : real.execute(query),
  );
}
