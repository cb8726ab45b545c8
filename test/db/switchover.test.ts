/**
 * A switchover that leaves the old primary up and read-only while DATABASE_URL's host
 * name leads to the new primary (RDS blue/green, a managed switchover): two real servers,
 * a primary and its streaming replica (test/support/switchover.ts), behind a relay the
 * test repoints as DNS would (test/support/repointable-relay.ts). The worker's pool keeps
 * the connections it opened on the old primary; without more, every sync would fail as
 * read_only and readiness stay unready until postgres.js's max lifetime (30-60 min) ended
 * them. The pool keeps its production settings here (idle timeout, max lifetime): only
 * what the worker does on a read-only answer moves it.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import postgres from 'postgres';
import { createDatabase } from '../../src/db/client.ts';
import { until, within } from '../support/faults.ts';
import { databaseReadiness, migrateWithScenario } from '../support/read-only-scenario.ts';
import { startRepointableRelay } from '../support/repointable-relay.ts';
import { consumeAs } from '../support/role-settings.ts';
import { guestsOf } from '../support/seed.ts';
import { type SwitchoverPair, startSwitchoverPair } from '../support/switchover.ts';
import { useSimulatedLuma } from '../support/sync-harness.ts';

const luma = useSimulatedLuma();

/** A switchover pair holding a migrated directory with `seedLimitScenario`'s event, and a pool of the worker's through a relay to its primary. */
async function pairWithScenario() {
  let scenario!: Awaited<ReturnType<typeof migrateWithScenario>>;
  const pair = await startSwitchoverPair(async (url) => {
    scenario = await migrateWithScenario(url, luma);
  });
  const relay = await startRepointableRelay(pair.primary);
  const url = new URL(pair.primary.url);
  url.port = String(relay.port);
  const worker = createDatabase({ url: url.toString(), poolMax: 3 });
  const readiness = databaseReadiness(worker.sql);
  after(async () => {
    await worker.close();
    await pair.stop();
  });
  /** DNS now leads to the new primary: what the switchover's last step does. */
  const moveHostName = () => relay.pointAt(pair.replica);
  return { pair, relay, url: url.toString(), worker, readiness, scenario, moveHostName };
}

/** The sessions of the worker (its application_name) on one server of the pair. */
async function workerSessionsOn(server: { url: string }): Promise<number> {
  const admin = postgres(server.url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await admin<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'luma-guest-sync'`;
    return row?.n ?? 0;
  } finally {
    await admin.end();
  }
}

async function claimOn(pair: SwitchoverPair, eventUid: string) {
  const admin = postgres(pair.replica.url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await admin<{ pages_done: number; next_cursor: string | null; free: boolean }[]>`
      SELECT pages_done, next_cursor, expires_at <= clock_timestamp() AS free
      FROM luma_guest_sync.event_claim WHERE event_uid = ${eventUid}`;
    return row;
  } finally {
    await admin.end();
  }
}

describe('a switchover that leaves the old primary up and read-only', () => {
  it('readiness that finds its session read-only ends the read-only sessions: the next probe reaches the new primary', async () => {
    const { pair, worker, readiness, moveHostName } = await pairWithScenario();
    // Every pooled connection open, and on the primary.
    await Promise.all([1, 2, 3].map(() => worker.sql`SELECT pg_sleep(0.05)`));
    assert.equal((await readiness()).ready, true);
    assert.equal(await workerSessionsOn(pair.primary), 3);

    await pair.switchover();
    moveHostName();
    const unready = await readiness();
    assert.equal(unready.ready, false, 'the session it asked is on the old primary, read-only');
    assert.match(
      unready.checks.schema?.detail ?? '',
      /default_transaction_read_only is on \(set in the server's configuration\)/,
    );

    await until(
      'the old primary has no session of the worker',
      async () => (await workerSessionsOn(pair.primary)) === 0,
    );
    const ready = await within('the next probe', readiness());
    assert.equal(ready.ready, true, JSON.stringify(ready.checks));
    const [where] = await worker.sql<{ standby: boolean; port: number }[]>`
      SELECT pg_is_in_recovery() AS standby, inet_server_port() AS port`;
    assert.deepEqual([where?.standby, where?.port], [false, pair.replica.port], 'the pool is on the new primary');
  });

  it('a sync that met the read-only old primary keeps its checkpoint, releases its claim on the new primary, and the next attempt resumes there and completes', async () => {
    const { pair, url, worker, readiness, scenario, moveHostName } = await pairWithScenario();
    assert.equal((await readiness()).ready, true);
    let switched = false;
    luma.serve({
      events: { [scenario.message.externalEventId]: scenario.list },
      fault: async (_request, pageNo) => {
        // Page 2's statement is the first write after the switchover; page 1 is checkpointed.
        if (pageNo !== 2 || switched) return undefined;
        switched = true;
        await until('page 1 checkpointed on the replica', async () => {
          const admin = postgres(pair.primary.url, { max: 1, onnotice: () => {} });
          try {
            const [row] = await admin<{ pages_done: number }[]>`
              SELECT pages_done FROM luma_guest_sync.event_claim WHERE event_uid = ${scenario.event.uid}`;
            return row?.pages_done === 1;
          } finally {
            await admin.end();
          }
        });
        await pair.switchover();
        moveHostName();
        return undefined;
      },
    });

    const first = await within('the sync that meets the switchover', consumeAs(worker, url, scenario.message));
    assert.ok(switched, 'the switchover ran');
    assert.equal(first.acknowledged, false, 'left for redelivery');
    assert.deepEqual(
      first.failures.map((f) => [f.kind, f.permanent, f.acknowledged]),
      [['read_only', false, false]],
    );
    assert.ok(
      !first.lines.some((l) => l.msg === 'could not release the claim: it frees itself when its lease ends'),
      'its claim was released, on the new primary',
    );
    const claim = await claimOn(pair, scenario.event.uid);
    assert.deepEqual([claim?.pages_done, claim?.free], [1, true], 'page 1 checkpointed, the claim free');
    assert.ok(claim?.next_cursor, 'the cursor of page 2 kept');
    await until(
      'the old primary has no session of the worker',
      async () => (await workerSessionsOn(pair.primary)) === 0,
    );

    assert.equal((await within('readiness', readiness())).ready, true);
    const second = await within('the next attempt', consumeAs(worker, url, scenario.message));
    assert.equal(second.error, undefined, String((second.error as Error)?.message));
    assert.equal(second.acknowledged, true);
    assert.equal(second.lines.find((l) => l.msg === 'sync complete')?.resumedAtPage, 2, 'resumed at page 2');
    const rows = await guestsOf(worker.db, scenario.event.uid);
    assert.deepEqual(
      rows.map((r) => r.memberUid).sort(),
      scenario.members.map((m) => m.uid).sort(),
      'each listed member once, the stale row removed',
    );
    assert.equal(await workerSessionsOn(pair.primary), 0, 'nothing went back to the old primary');
  });
});
