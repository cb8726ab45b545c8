/**
 * Issue 19: one sync per event at a time for syncs of any length, every write fenced by
 * the claim's token. Each interleaving is forced: a Luma answer held at a gate, the sync's
 * beforeFinish hook, a lease made to lapse in the database (what a paused process sees),
 * renewals switched off (a paused process renews nothing). Every test runs twice: with
 * the syncs connected to PostgreSQL, and through PgBouncer in transaction mode, where no
 * session state survives a transaction (set-up and checks always go direct).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { createDatabase, type Db } from '../../src/db/client.ts';
import * as schema from '../../src/db/schema.ts';
import { errorKind, isPermanent } from '../../src/errors.ts';
import { acquireClaim, ClaimLostError, EventSyncRunningError, renewClaim } from '../../src/sync/claim.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase, withDatabase } from '../support/db.ts';
import { blockedBy, createGate, holdInTransaction, until } from '../support/faults.ts';
import { startTestPgBouncer, viaPgBouncer } from '../support/pgbouncer.ts';
import { guestsOf, seedEvent, seedGuest, seedLocation, seedMember, syncMessageFor } from '../support/seed.ts';
import { candidatesOf, setPushConfigs } from '../support/seed-push.ts';
import { captureLogger } from '../support/sqs-queue.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const database = await createTestDatabase({ label: 'claim' });
const { db, sql } = database;
const luma = useSimulatedLuma();
await setPushConfigs(db, { minAttendeesPerEvent: 1, upcomingWindowDays: 7, reminderDaysBefore: 3 });

/** A paused process renews nothing: renewals off, so only the database's fence stands between it and a write. */
const PAUSED = { leaseSeconds: 60, holder: 'paused:1', renewEveryMs: 3_600_000 };
const removeStale = { enabled: true, maxShare: 1 };

async function linkedEvent() {
  const event = await seedEvent(db);
  const message = syncMessageFor(event);
  return { event, message };
}

const entry = (id: string, member: { email: string | null }) => ({ id, email: member.email! });

/** What the lease running out under a paused holder leaves in the database. */
async function lapse(eventUid: string) {
  await sql`UPDATE luma_guest_sync.event_claim SET expires_at = clock_timestamp() - interval '1 second'
    WHERE event_uid = ${eventUid}`;
}

async function claimRow(eventUid: string) {
  const [row] = await sql<
    { token: string; holder: string; next_cursor: string | null; pages_done: number; free: boolean }[]
  >`SELECT token::text AS token, holder, next_cursor, pages_done, expires_at <= clock_timestamp() AS free
    FROM luma_guest_sync.event_claim WHERE event_uid = ${eventUid}`;
  return row;
}

async function lastSynced(eventUid: string) {
  const [row] = await db
    .select({ at: schema.plEvent.guestLastSyncedAt })
    .from(schema.plEvent)
    .where(eq(schema.plEvent.uid, eventUid));
  return row?.at ?? null;
}

/** How the syncs reach the database: directly, or through a transaction-mode PgBouncer. */
interface Route {
  name: string;
  url: string;
  /** How the worker is told about the pooler (DATABASE_POOLER). */
  pooler: 'none' | 'transaction';
}
const direct: Route = { name: 'PostgreSQL', url: database.url, pooler: 'none' };
const pooled: Route = {
  name: 'PgBouncer (transaction mode)',
  url: viaPgBouncer(database.name),
  pooler: 'transaction',
};

/** A database handle of its own for one sync, recording every statement it sends. */
function recordedDatabase(route: Route, options: { idleTimeoutSeconds?: number; url?: string } = {}) {
  const statements: string[] = [];
  const handle = createDatabase({
    url: options.url ?? route.url,
    poolMax: 3,
    pooler: route.pooler,
    idleTimeoutSeconds: options.idleTimeoutSeconds,
    onQuery: (q) => statements.push(q),
  });
  return { ...handle, statements };
}

/** The statements that write what a sync must not write once it lost its claim. */
const forbidden = (statements: readonly string[]) =>
  statements.filter((q) =>
    /INSERT INTO "PLEventGuest"|UPDATE "PLEventGuest"|DELETE FROM "PLEventGuest"|update "PLEvent"|IrlGatheringPush|PushNotification/i.test(
      q,
    ),
  );

const dialect = new PgDialect();

/**
 * The database, counting the claim renewals (claim-hold.ts: the bare fencing UPDATE, no
 * checkpoint) as the hold asks for them; everything else as it is.
 */
function countRenewals(real: Db) {
  const counter = { asked: 0, db: real };
  counter.db = new Proxy(real, {
    get(target, property, receiver) {
      if (property === 'execute')
        return (query: Parameters<Db['execute']>[0]) => {
          const text = dialect.sqlToQuery(query as Parameters<PgDialect['sqlToQuery']>[0]).sql;
          if (
            /^\s*UPDATE luma_guest_sync\.event_claim\b/.test(text) &&
            /RETURNING 1 AS held/.test(text) &&
            !/next_cursor/.test(text)
          )
            counter.asked++;
          return target.execute(query);
        };
      const value = Reflect.get(target, property, receiver);
      // $client, the postgres.js pool, is a function with properties a bound copy lacks.
      return typeof value === 'function' && property !== '$client' ? value.bind(target) : value;
    },
  });
  return counter;
}

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => assert.fail('expected the sync to fail'),
    (err: unknown) => err as Error,
  );

/** A PgBouncer of this file's own whose server connections close after 1 s idle or 1 s of life. */
const shortLivedBouncer = await startTestPgBouncer({ serverIdleTimeout: 1, serverLifetime: 1 });

for (const route of [direct, pooled]) {
  const via = recordedDatabase(route);
  after(() => via.close());

  describe(`the claim on an event, the syncs through ${route.name}`, () => {
    it('refuses a second sync of an event while the first runs, before reading Luma, retryably, naming the holder', async () => {
      const { event, message } = await linkedEvent();
      const members = await Promise.all([1, 2, 3].map(() => seedMember(db)));
      const gate = createGate();
      const held = createGate();
      let requests = 0;
      luma.serve({
        events: { [message.externalEventId]: members.map((m, i) => entry(`gst-r${i}`, m)) },
        fault: async () => {
          requests++;
          held.open();
          await gate.opened;
          return undefined;
        },
      });
      const first = syncEvent(syncDeps(via.db, { claim: { leaseSeconds: 60, holder: 'replica-a:11' } }), message);
      await held.opened;

      const second = await rejection(syncEvent(syncDeps(via.db), message));
      assert.equal(requests, 1, 'the refused sync never asked Luma');
      gate.open();
      const result = await first;

      assert.ok(second instanceof EventSyncRunningError);
      assert.equal(isPermanent(second), false, 'left for redelivery, never dropped');
      assert.equal(errorKind(second), 'event_sync_running');
      assert.match(
        second.message,
        new RegExp(`${event.uid} is already being synced by replica-a:11 \\(claimed until `),
      );
      // The holder's remaining lease, by the database's clock: what the consumer waits before retrying.
      const remaining = second.remainingLeaseMs;
      assert.ok(remaining !== undefined && remaining > 0 && remaining <= 60_000, `remaining lease ${remaining} ms`);
      assert.equal(result.created, 3);
      assert.equal((await claimRow(event.uid))?.free, true, 'released at the end');
    });

    it('lets syncs of different events run at the same time', async () => {
      const a = await linkedEvent();
      const b = await linkedEvent();
      const member = await seedMember(db);
      const gate = createGate();
      const held = createGate();
      luma.serve({
        events: {
          [a.message.externalEventId]: [entry('gst-a', member)],
          [b.message.externalEventId]: [entry('gst-b', member)],
        },
        fault: async (request) => {
          if (new URL(request.url).searchParams.get('event_id') !== a.message.externalEventId) return undefined;
          held.open();
          await gate.opened;
          return undefined;
        },
      });
      const syncA = syncEvent(syncDeps(via.db), a.message);
      await held.opened;
      const resultB = await syncEvent(syncDeps(via.db), b.message);
      gate.open();
      assert.deepEqual([(await syncA).created, resultB.created], [1, 1]);
    });

    it('frees the claim of a holder that died once its lease has run out, not before', async () => {
      const { event, message } = await linkedEvent();
      const member = await seedMember(db);
      luma.serve({ events: { [message.externalEventId]: [entry('gst-dead', member)] } });
      // A holder that took the claim and died: nobody renews or releases it.
      await acquireClaim(via.db, event.uid, { leaseSeconds: 3, holder: 'dead-host:999' });

      const refused = await rejection(syncEvent(syncDeps(via.db), message));
      assert.ok(refused instanceof EventSyncRunningError);
      assert.match(refused.message, /by dead-host:999/);
      await until("the dead holder's lease to run out", async () => (await claimRow(event.uid))?.free === true, 10_000);
      const result = await syncEvent(syncDeps(via.db), message);

      assert.equal(result.created, 1);
      assert.notEqual((await claimRow(event.uid))?.holder, 'dead-host:999');
    });

    it('a holder paused past its lease and taken over writes nothing when it resumes: no page, move, removal, guestLastSyncedAt or push refresh', async () => {
      const { event, message } = await linkedEvent();
      const [m1, m2, m3, m4, m5] = await Promise.all([1, 2, 3, 4, 5].map(() => seedMember(db)));
      // A synced row no longer on the list (the takeover removes it).
      await seedGuest(db, {
        eventUid: event.uid,
        locationUid: event.locationUid!,
        memberUid: m4!.uid,
        externalGuestId: 'gst-gone',
      });
      const list = [entry('gst-1', m1!), entry('gst-2', m2!), entry('gst-3', m3!)];
      const events: Record<string, Array<{ id: string; email: string }>> = { [message.externalEventId]: list };
      const gate = createGate();
      const held = createGate();
      let pausedOnce = false;
      luma.serve({
        events,
        fault: async (_request, pageNo) => {
          if (pageNo !== 2 || pausedOnce) return undefined;
          pausedOnce = true;
          held.open();
          await gate.opened;
          return undefined;
        },
      });
      const paused = recordedDatabase(route);
      const first = syncEvent(syncDeps(paused.db, { pageSize: 1, removeStale, claim: PAUSED }), message).then(
        () => assert.fail('the paused sync must not complete'),
        (err: unknown) => err as Error,
      );
      await held.opened;
      await until('page 1 to be written', async () => (await claimRow(event.uid))?.pages_done === 1);

      // Its lease runs out while it is paused; another sync takes over and completes.
      await lapse(event.uid);
      const takeover = await syncEvent(syncDeps(via.db, { pageSize: 1, removeStale }), message);
      assert.equal(takeover.resumedAtPage, 2, 'the takeover resumed from the checkpoint page 1 left');
      // It removes gst-gone: page 1, written by the paused sync, is recorded with the rest.
      assert.equal(takeover.removed, 1);
      const syncedByTakeover = await lastSynced(event.uid);
      assert.ok(syncedByTakeover);
      const candidatesBefore = await candidatesOf(db, event.uid);
      // What would show any write of the paused sync: a new guest on its page 2, the event moved.
      list[1] = entry('gst-5', m5!);
      const moved = await seedLocation(db);
      await db.update(schema.plEvent).set({ locationUid: moved.uid }).where(eq(schema.plEvent.uid, event.uid));
      const before = paused.statements.length;

      gate.open();
      const err = await first;

      assert.ok(err instanceof ClaimLostError, String(err));
      assert.match(err.message, /^claim lost: .* before page 2 was written/);
      assert.equal(isPermanent(err), false);
      const rows = await guestsOf(db, event.uid);
      // gst-2, which the paused sync's list no longer holds, is still there: it removed nothing.
      assert.deepEqual(rows.map((r) => r.externalGuestId).sort(), ['gst-1', 'gst-2', 'gst-3']);
      assert.ok(
        rows.every((r) => r.locationUid === event.locationUid),
        'no row moved',
      );
      assert.deepEqual(await lastSynced(event.uid), syncedByTakeover);
      assert.deepEqual(await candidatesOf(db, event.uid), candidatesBefore);
      // Page 2's statement, and page 3's when it was read before page 2's was answered
      // (page statements are pipelined): each fenced, each finding the claim gone.
      const after = forbidden(paused.statements.slice(before));
      assert.ok(after.length >= 1 && after.length <= 2, `only fenced page statements: ${after.length}`);
      for (const statement of after) assert.match(statement, /UPDATE luma_guest_sync\.event_claim/);
      await paused.close();
    });

    it('a takeover between the last page and the finish leaves the first sync nothing to write', async () => {
      const { event, message } = await linkedEvent();
      const [m1, m2, m3] = await Promise.all([1, 2, 3].map(() => seedMember(db)));
      const list = [entry('gst-1', m1!), entry('gst-2', m2!)];
      luma.serve({ events: { [message.externalEventId]: list } });
      const atFinish = createGate();
      const go = createGate();
      const paused = recordedDatabase(route);
      const first = rejection(
        syncEvent(
          syncDeps(paused.db, {
            removeStale,
            claim: PAUSED,
            hooks: {
              beforeFinish: async () => {
                atFinish.open();
                await go.opened;
              },
            },
          }),
          message,
        ),
      );
      await atFinish.opened;

      await lapse(event.uid);
      // The takeover reads a list with a guest the first never saw: the first would remove it.
      list.push(entry('gst-3', m3!));
      await syncEvent(syncDeps(via.db, { removeStale }), message);
      const syncedByTakeover = await lastSynced(event.uid);
      const moved = await seedLocation(db);
      await db.update(schema.plEvent).set({ locationUid: moved.uid }).where(eq(schema.plEvent.uid, event.uid));
      const before = paused.statements.length;

      go.open();
      const err = await first;

      assert.ok(err instanceof ClaimLostError, String(err));
      assert.match(err.message, /before the sync could finish/);
      const rows = await guestsOf(db, event.uid);
      assert.deepEqual(rows.map((r) => r.externalGuestId).sort(), ['gst-1', 'gst-2', 'gst-3'], 'nothing removed');
      assert.ok(
        rows.every((r) => r.locationUid === event.locationUid),
        'no row moved',
      );
      assert.deepEqual(await lastSynced(event.uid), syncedByTakeover);
      assert.deepEqual(
        forbidden(paused.statements.slice(before)).filter((q) => !/UPDATE luma_guest_sync\.event_claim/.test(q)),
        [],
      );
      await paused.close();
    });

    it('stops a sync with ClaimLostError as soon as a renewal finds its claim taken, and renews nothing after', async () => {
      const { event, message } = await linkedEvent();
      const members = await Promise.all([1, 2].map(() => seedMember(db)));
      const gate = createGate();
      const held = createGate();
      luma.serve({
        events: { [message.externalEventId]: members.map((m, i) => entry(`gst-h${i}`, m)) },
        fault: async (_request, pageNo) => {
          if (pageNo !== 2) return undefined;
          held.open();
          await gate.opened;
          return undefined;
        },
      });
      const renewing = recordedDatabase(route);
      const renewals = countRenewals(renewing.db);
      const sync = rejection(
        syncEvent(syncDeps(renewals.db, { pageSize: 1, claim: { leaseSeconds: 60, renewEveryMs: 50 } }), message),
      );
      await held.opened;
      await until('page 1 to be written', async () => (await claimRow(event.uid))?.pages_done === 1);
      // Another holder's grant: a new token, as a takeover after a lapse writes.
      await sql`UPDATE luma_guest_sync.event_claim SET token = nextval('luma_guest_sync.event_claim_token'),
      holder = 'other:2', expires_at = clock_timestamp() + interval '1 minute' WHERE event_uid = ${event.uid}`;

      const err = await sync;
      const askedByTheEnd = renewals.asked;
      gate.open();

      assert.ok(err instanceof ClaimLostError, String(err));
      assert.match(err.message, /taken over/);
      assert.ok(askedByTheEnd >= 1, 'the renewal that found the claim taken was counted');
      // Counted when the hold asks for a renewal, not when the pool sends it: one asked
      // before the end may go out after a statement asked later (the pool shares its
      // queue among the connections still opening, and one may open later than another:
      // seen with a PostgreSQL backend stalled). A renewal timer left running would ask
      // again every 50 ms.
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(renewals.asked, askedByTheEnd, 'no renewal asked for after the sync ended');
      assert.equal((await claimRow(event.uid))?.holder, 'other:2', "the other's claim is left alone");
      assert.equal((await guestsOf(db, event.uid)).length, 1, 'page 1 only');
      await renewing.close();
    });

    it("a claim row deleted by hand never gives its holder's token out again: the old holder stays fenced off", async () => {
      // An operator freeing a claim by deleting its row instead of expiring it: the next
      // grant inserts a fresh row, and a per-row counter would hand out the old token again.
      const { event } = await linkedEvent();
      const old = await acquireClaim(via.db, event.uid, { leaseSeconds: 60, holder: 'old:1' });
      await sql`DELETE FROM luma_guest_sync.event_claim WHERE event_uid = ${event.uid}`;
      const next = await acquireClaim(via.db, event.uid, { leaseSeconds: 60, holder: 'new:2' });

      assert.ok(BigInt(next.token) > BigInt(old.token), `${next.token} after ${old.token}`);
      assert.equal(await renewClaim(via.db, old), false, 'the old holder is fenced off');
      assert.equal(await renewClaim(via.db, next), true);
      assert.equal((await claimRow(event.uid))?.holder, 'new:2');
    });

    it('a page that outlasts the lease commits whole, a takeover waits for it, and the holder writes nothing after', async () => {
      // The database's clock runs the lease out while a page statement is still running
      // (here: blocked on a conflicting insert, as by a slow disk or a lock). The fence at
      // its start keeps the claim row locked until it commits, so the expiry cannot hand
      // the event to another sync in the middle of the page.
      const { event, message } = await linkedEvent();
      const [m1, m2, m3] = await Promise.all([1, 2, 3].map(() => seedMember(db)));
      luma.serve({
        events: { [message.externalEventId]: [entry('gst-1', m1!), entry('gst-2', m2!), entry('gst-3', m3!)] },
      });
      // An uncommitted synced row for page 2's member: page 2's insert waits for it.
      const blocker = await holdInTransaction(
        sql,
        (
          tx,
        ) => tx`INSERT INTO "PLEventGuest" (uid, "eventUid", "locationUid", "memberUid", "externalGuestId", "updatedAt")
          VALUES (${`blk-${event.uid}`}, ${event.uid}, ${event.locationUid!}, ${m2!.uid}, 'gst-blocker', now())`,
      );
      const holder = recordedDatabase(route);
      const first = rejection(syncEvent(syncDeps(holder.db, { pageSize: 1, claim: { leaseSeconds: 3 } }), message));
      await until('page 2 blocked after its fence', async () => (await blockedBy(sql, blocker.pid)) > 0, 10_000);
      const firstToken = (await claimRow(event.uid))!.token;
      // Past page 2's fence plus a whole lease, by the database's clock.
      const [deadline] = await sql<{ at: string }[]>`SELECT (clock_timestamp() + interval '3.3 seconds')::text AS at`;
      const at = deadline!.at;
      await until('the lease to run out by the database clock', async () => {
        const [row] = await sql<{ past: boolean }[]>`SELECT clock_timestamp() > ${at}::timestamptz AS past`;
        return row!.past;
      });

      let granted: Awaited<ReturnType<typeof acquireClaim>> | undefined;
      const takeover = acquireClaim(db, event.uid, { leaseSeconds: 60, holder: 'takeover:2' }).then((claim) => {
        granted = claim;
        return claim;
      });
      // It waits on the claim row that page 2's fence locked, although the lease ran out.
      await until(
        'the takeover waiting on the claim row',
        async () => {
          const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO luma_guest_sync.event_claim%'`;
          return row!.n > 0;
        },
        10_000,
      );
      assert.equal(granted, undefined, 'no takeover while the page runs');
      assert.deepEqual(
        (await guestsOf(db, event.uid)).map((r) => r.externalGuestId),
        ['gst-1'],
        'page 2 not yet written',
      );

      await blocker.release();
      const err = await first;
      const claim = await takeover;

      assert.ok(err instanceof ClaimLostError, String(err));
      assert.ok(BigInt(claim.token) > BigInt(firstToken), 'the takeover got a newer token');
      // Page 2 committed whole under its fence, before the takeover was granted; nothing after.
      assert.deepEqual((await guestsOf(db, event.uid)).map((r) => r.externalGuestId).sort(), ['gst-1', 'gst-2']);
      assert.equal(await lastSynced(event.uid), null, 'no finish');
      assert.equal((await claimRow(event.uid))?.holder, 'takeover:2');
      await holder.close();
    });

    it('keeps its claim by its page writes alone: with no renewal, a sync longer than its lease completes', async () => {
      // Each page statement's fence extends the lease (in the database) and counts as a
      // renewal (in the process): a sync whose pages come faster than its lease needs no
      // other renewal, however long it runs. The lease is what is tested here, so it is
      // real time: pages every 250 ms under a 5 s lease, so only a stall of the process
      // or the database of over 4.5 s between two pages can take the claim away (with
      // pages every 1.2 s under 3 s, one of 2 s did).
      const { event, message } = await linkedEvent();
      const members = await Promise.all(Array.from({ length: 22 }, () => seedMember(db)));
      luma.serve({
        events: { [message.externalEventId]: members.map((m, i) => entry(`gst-w${i}`, m)) },
        latencyMs: 250,
      });
      const pages = recordedDatabase(route);
      const result = await syncEvent(
        syncDeps(pages.db, { pageSize: 1, claim: { leaseSeconds: 5, renewEveryMs: 3_600_000 } }),
        message,
      );
      await pages.close();

      assert.equal(result.created, 22);
      assert.ok(result.durationMs > 5_000, `the sync took ${result.durationMs} ms, longer than its 5 s lease`);
      assert.ok(await lastSynced(event.uid));
    });

    it("outlasts the pool's idle timeout: a sync slower than it completes", async () => {
      const { event, message } = await linkedEvent();
      const members = await Promise.all([1, 2, 3].map(() => seedMember(db)));
      // Connections idle for 1 s close (PgBouncer's server connections too, and after 1 s of
      // life); every page takes longer than that.
      const pool = recordedDatabase(route, {
        idleTimeoutSeconds: 1,
        url: route === pooled ? withDatabase(shortLivedBouncer.url, database.name) : undefined,
      });
      luma.serve({
        events: { [message.externalEventId]: members.map((m, i) => entry(`gst-i${i}`, m)) },
        latencyMs: 1_300,
      });
      const { log, lines } = captureLogger();
      // Renewals every second, as under a 3 s lease, on connections that keep closing; the
      // lease itself is not what is tested, so it is long: a stalled machine cannot take
      // the claim away (under 3 s, a stall of 2 s without a renewal did).
      const result = await syncEvent(
        syncDeps(pool.db, { pageSize: 1, log, claim: { leaseSeconds: 60, renewEveryMs: 1_000 } }),
        message,
      );
      await pool.close();

      assert.equal(result.created, 3);
      assert.ok(
        result.durationMs > 3_000,
        `the sync took ${result.durationMs} ms: three pages slower than the 1 s idle timeout`,
      );
      assert.ok(await lastSynced(event.uid));
      assert.equal((await claimRow(event.uid))?.free, true);
      // Every renewal and page found a connection, though the idle ones kept closing.
      assert.deepEqual(
        lines.filter((line) => Number(line.level) >= 40).map((line) => line.msg),
        [],
        'no renewal failed, nothing warned',
      );
    });
  });
}

describe('the connections of a running sync', () => {
  it("are its pool's only: a sync held mid-list has one connection open, none of its own beside the pool", async () => {
    const { event, message } = await linkedEvent();
    const members = await Promise.all([1, 2].map(() => seedMember(db)));
    const gate = createGate();
    const held = createGate();
    luma.serve({
      events: { [message.externalEventId]: members.map((m, i) => entry(`gst-c${i}`, m)) },
      fault: async (_request, pageNo) => {
        if (pageNo !== 2) return undefined;
        held.open();
        await gate.opened;
        return undefined;
      },
    });
    const url = new URL(database.url);
    url.searchParams.set('application_name', 'sync-under-test');
    const pool = createDatabase({ url: url.toString(), poolMax: 1 });
    // Renewals every second; the lease is long, as it is not what is tested: a stalled
    // machine cannot take the claim away while the sync is held (a 3 s lease, which
    // renews every second by default, lost it to a stall of 2 s).
    const sync = syncEvent(
      syncDeps(pool.db, { pageSize: 1, claim: { leaseSeconds: 60, renewEveryMs: 1_000 } }),
      message,
    );
    await held.opened;
    await until('page 1 to be written', async () => (await claimRow(event.uid))?.pages_done === 1);
    // Across two renewals (every second).
    const counts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'sync-under-test'`;
      counts.push(row!.n);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    gate.open();
    const result = await sync;
    await pool.close();

    // The pool's one (claim, renewals, pages, finish): the page loop's own connection of
    // before would make two, and the session lock's connection before that three.
    assert.deepEqual(counts, [1, 1, 1, 1, 1], `connections seen: ${counts.join(', ')}`);
    assert.equal(result.created, 2);
  });
});
