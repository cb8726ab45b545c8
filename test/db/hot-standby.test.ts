/**
 * The worker on a real hot standby (test/support/hot-standby.ts): a DATABASE_URL leading
 * to a read replica or reader endpoint, or a failover that leaves the worker on a standby
 * before its promotion (the daemon's start-up on one: hot-standby-daemon.test.ts).
 * test/db/role-settings.test.ts covers the same refusal made by
 * default_transaction_read_only, directly and through PgBouncer.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createDatabase } from '../../src/db/client.ts';
import { checkSchema } from '../../src/db/schema-check.ts';
import { startHotStandby } from '../support/hot-standby.ts';
import { databaseReadiness, migrateWithScenario } from '../support/read-only-scenario.ts';
import { consumeAs } from '../support/role-settings.ts';
import { guestsOf } from '../support/seed.ts';
import { useSimulatedLuma } from '../support/sync-harness.ts';

const luma = useSimulatedLuma();

/** A hot standby of a migrated directory holding `seedLimitScenario`'s event, with a pool of the worker's on it. */
async function standbyWithScenario() {
  let scenario!: Awaited<ReturnType<typeof migrateWithScenario>>;
  const standby = await startHotStandby(async (url) => {
    scenario = await migrateWithScenario(url, luma);
  });
  const worker = createDatabase({ url: standby.url, poolMax: 3 });
  after(async () => {
    await worker.close();
    await standby.stop();
  });
  return { standby, worker, scenario };
}

describe('a hot standby', () => {
  it('is named by the start-up check and readiness, fails a sync as read_only at its claim, and once promoted the same pool completes it', async () => {
    const { standby, worker, scenario } = await standbyWithScenario();
    const check = await checkSchema(worker.sql);
    assert.deepEqual([check.ok, check.setting], [false, 'transaction_read_only']);
    assert.match(check.message, /^The database server is a read-only hot standby \(pg_is_in_recovery\(\)\)/);
    assert.match(check.message, /Point DATABASE_URL at the primary/);
    assert.doesNotMatch(check.message, /db:migrate|default_transaction_read_only/);
    const readiness = databaseReadiness(worker.sql);
    const unready = await readiness();
    assert.equal(unready.ready, false);
    assert.equal(unready.checks.schema?.detail, check.message);
    assert.equal(unready.checks.database?.ok, true, 'reachable: not a generic failure');

    const first = await consumeAs(worker, standby.url, scenario.message);
    assert.equal(first.acknowledged, false, 'left for redelivery');
    assert.deepEqual(
      first.failures.map((f) => [f.kind, f.permanent, f.acknowledged]),
      [['read_only', false, false]],
    );
    const line = first.lines.find((l) => l.msg === 'sync failed: message left for redelivery');
    assert.equal(line?.kind, 'read_only');
    assert.match(
      String((line?.err as { message?: string } | undefined)?.message),
      /^taking the claim of the event was refused by a read-only server: it is a hot standby \(in recovery\), so DATABASE_URL leads to a read replica or reader endpoint, or a failover is under way; nothing of it was written/,
    );

    // The failover ends: the sessions the pool holds on the standby take writes from now on.
    await standby.promote();
    assert.equal((await readiness()).ready, true);
    const second = await consumeAs(worker, standby.url, scenario.message);
    assert.equal(second.error, undefined, String((second.error as Error)?.message));
    assert.equal(second.acknowledged, true);
    const rows = await guestsOf(worker.db, scenario.event.uid);
    assert.deepEqual(
      rows.map((r) => r.memberUid).sort(),
      scenario.members.map((m) => m.uid).sort(),
      'each listed member once, the stale row removed',
    );
  });
});
