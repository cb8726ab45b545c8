/**
 * The database goes silent (no FIN, no RST) before a sync has its claim: the grant is sent
 * on a pooled connection already open, into a link the test has frozen
 * (test/support/freezable-link.ts). There is no lease yet to end the wait, and TCP's own
 * bounds take minutes (docs/reliability.md, "A database that stops answering"). Directly,
 * and through PgBouncer with the link frozen between the pool and PgBouncer. Lease 3 s, but for
 * the next syncs, which must complete.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from '../../src/log.ts';
import { silentLogger } from '../../src/log.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { until, within } from '../support/faults.ts';
import { endsSilent, frozenRoutes, poolThroughFreezableLink } from '../support/freezable-link.ts';
import { guestsOf, seedEvent, seedMember, syncMessageFor } from '../support/seed.ts';
import { captureLogger, type LogLine } from '../support/sqs-queue.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const database = await createTestDatabase({ label: 'frozen_grant' });
const { db, sql } = database;
const luma = useSimulatedLuma();

/** The silent grant's lease: how long it waits, and how long the late grant blocks the event. */
const LEASE_SECONDS = 3;
/**
 * The next syncs, which must complete and whose lease is not under test: a 3 s one, renewed every
 * second, runs out in a 2 s stall of a loaded machine (docs/load-flakes.md).
 */
const COMPLETING_LEASE_SECONDS = 60;
/** Generous for a busy machine, and still far below TCP's minutes: a wait for TCP fails it. */
const BOUND_MS = 30_000;

async function claimRow(eventUid: string) {
  const [row] = await sql<
    { holder: string; token: string; free: boolean; released_early: boolean; next_cursor: string | null }[]
  >`
    SELECT holder, token::text, expires_at <= clock_timestamp() AS free,
      expires_at < claimed_at + ${LEASE_SECONDS}::int * interval '1 second' AS released_early, next_cursor
    FROM luma_guest_sync.event_claim WHERE event_uid = ${eventUid}`;
  return row;
}

for (const route of frozenRoutes(database)) {
  describe(`taking the claim while the database is silent, ${route.name}`, () => {
    it('ends the sync naming the stage within about a lease; the grant delivered late is released, and nobody uses it', async () => {
      const { link, handle, event, message, stats } = await grantIntoSilence(route, 'frozen:1', silentLogger);

      // The grant the link held reaches the database now and is granted: the worker, which
      // gave up on it, releases it instead of leaving it to block the event for a lease.
      link.thaw();
      await until(
        'the late grant to be released',
        async () => {
          const row = await claimRow(event.uid);
          return row?.holder === 'frozen:1' && row.free;
        },
        BOUND_MS,
      );
      const { token: _, ...released } = (await claimRow(event.uid))!;
      assert.deepEqual(
        released,
        { holder: 'frozen:1', free: true, released_early: true, next_cursor: 'cursor-earlier' },
        'released as granted, its checkpoint kept for the next attempt',
      );
      assert.equal(stats.requests, 0, 'the late grant was used to sync');
      assert.deepEqual(await guestsOf(db, event.uid), []);

      // The event is free for the next sync at once, on the same pool (Luma refuses the
      // made-up cursor: the list is read from page 1).
      const next = await within(
        'a sync through the thawed link',
        syncEvent(
          syncDeps(handle.db, { claim: { leaseSeconds: COMPLETING_LEASE_SECONDS, holder: 'frozen:2' } }),
          message,
        ),
        BOUND_MS,
      );
      assert.equal(next.created, 1);
    });

    it('a late grant whose release fails is told as a warning, nobody uses it, and it frees the event when its lease ends', async (t) => {
      const { log, lines } = captureLogger('info');
      const holder = `unreleasable-${route.pooler}:1`;
      const { link, handle, event, message, stats } = await grantIntoSilence(route, holder, log);
      // The release of that grant fails (as it would on a database that goes silent again
      // or refuses it): a release keeps the token and ends the lease early.
      const refuse = `refuse_release_${route.pooler}`;
      await sql.unsafe(`
        CREATE FUNCTION public.${refuse}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the test refuses this release'; END $$`);
      await sql.unsafe(`
        CREATE TRIGGER ${refuse} BEFORE UPDATE ON luma_guest_sync.event_claim FOR EACH ROW
        WHEN (NEW.holder = '${holder}' AND NEW.token = OLD.token AND NEW.expires_at < OLD.expires_at)
        EXECUTE FUNCTION public.${refuse}()`);
      t.after(() =>
        sql.unsafe(`DROP TRIGGER ${refuse} ON luma_guest_sync.event_claim; DROP FUNCTION public.${refuse}()`),
      );

      link.thaw();
      const told = (l: LogLine) => l.msg === 'could not release a late claim: it frees itself when its lease ends';
      await until('the failed release to be told', () => lines.some(told), BOUND_MS);
      const warning = lines.find(told)!;
      const row = (await claimRow(event.uid))!;
      assert.equal(row.holder, holder, 'the late grant was granted');
      assert.equal(warning.eventUid, event.uid);
      assert.equal(String(warning.token), row.token);
      assert.match(JSON.stringify(warning.err), /the test refuses this release/);
      assert.deepEqual(
        { free: row.free, released_early: row.released_early, next_cursor: row.next_cursor },
        { free: false, released_early: false, next_cursor: 'cursor-earlier' },
        'held for its lease, its checkpoint kept',
      );
      assert.equal(lines.filter((l) => l.msg === 'late claim released: granted after its sync gave up').length, 0);

      await until('the late grant to expire', async () => (await claimRow(event.uid))?.free === true, BOUND_MS);
      assert.equal(stats.requests, 0, 'the late grant was used to sync');
      const next = await within(
        'a sync once the late grant expired',
        syncEvent(
          syncDeps(handle.db, { claim: { leaseSeconds: COMPLETING_LEASE_SECONDS, holder: 'frozen:2' } }),
          message,
        ),
        BOUND_MS,
      );
      assert.equal(next.created, 1);
    });
  });
}

/**
 * A sync whose claim's grant goes into a frozen link: it ends as database_silent, having
 * read nothing and written nothing. The link is left frozen, the grant held in it.
 */
async function grantIntoSilence(route: ReturnType<typeof frozenRoutes>[number], holder: string, log: Logger) {
  const { link, handle } = await poolThroughFreezableLink(route.url, 2, route.pooler);
  const event = await seedEvent(db);
  const message = syncMessageFor(event);
  const member = await seedMember(db);
  const stats = luma.serve({ events: { [message.externalEventId]: [{ id: 'gst-1', email: member.email! }] } });
  // An earlier attempt stopped after page 1: its claim expired, its checkpoint kept.
  await sql`INSERT INTO luma_guest_sync.event_claim
      (event_uid, token, holder, claimed_at, expires_at, next_cursor, pages_done, cursor_event_id)
    VALUES (${event.uid}, nextval('luma_guest_sync.event_claim_token'), 'earlier:1', clock_timestamp(),
      clock_timestamp(), 'cursor-earlier', 1, ${message.externalEventId})`;
  // A connection of the pool is open and idle: the grant goes out on it, into the silence.
  await handle.sql`SELECT 1`;
  link.freeze();
  const frozenAt = performance.now();

  const sync = syncEvent(syncDeps(handle.db, { log, claim: { leaseSeconds: LEASE_SECONDS, holder } }), message);
  const err = await endsSilent(`taking the claim, ${route.name}`, sync, {
    stage: /taking the claim of the event/,
    frozenAt: () => frozenAt,
    boundMs: BOUND_MS,
  });
  assert.match(err.message, /SYNC_CLAIM_LEASE_SECONDS/);
  assert.equal(stats.requests, 0, 'Luma was read without a claim');
  assert.equal((await claimRow(event.uid))?.holder, 'earlier:1', 'nothing reached the database while frozen');
  return { link, handle, event, message, stats };
}
