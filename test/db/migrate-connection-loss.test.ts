/**
 * `luma-guest-sync migrate` (runMigrations) when its session ends under it: a PostgreSQL
 * restart or failover while a deploy's migrate job runs, `pg_terminate_backend`, a network
 * drop. All migrations run in one transaction; postgres.js 3.4.9 would write that
 * transaction's next statement or its ROLLBACK to the closed socket from a timer, an
 * uncaught TypeError that ends the process instead of failing the migration with the
 * connection's error (docs/driver-workarounds.md, the third fault).
 *
 * The session ends while the migration waits for the migrators' lock (directly, and
 * through a transaction-mode PgBouncer) or under a statement of its DDL (directly: the
 * relay that cuts it sits on the direct link). Each case asserts: no uncaught exception,
 * the migration fails as a lost connection, nothing of it stays applied, and the next run
 * applies every migration.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MIGRATION_LOCK_KEY, migrationTags, runMigrations } from '../../src/db/migrate.ts';
import { isConnectionLoss } from '../../src/errors.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { blockedBy, holdInTransaction, until, within } from '../support/faults.ts';
import { viaPgBouncer } from '../support/pgbouncer.ts';
import { tripwireToDatabase } from '../support/tripwire-link.ts';
import { recordDuringEachCase } from '../support/uncaught.ts';

const migrations = migrationTags().length;

/** Uncaught exceptions while a case runs: the driver's fault is thrown from a timer. */
const uncaught = recordDuringEachCase('uncaughtException');

async function schemaApplied(database: TestDatabase): Promise<boolean> {
  const [row] = await database.sql<{ table: string | null }[]>`
    SELECT to_regclass('luma_guest_sync.migrations')::text AS table`;
  return row?.table != null;
}

/** The migration's failure, after a turn for a timer's uncaught exception to surface. */
async function failureOf(migration: Promise<unknown>): Promise<unknown> {
  const err = await within(
    'the migration to end',
    migration.then(
      () => assert.fail('the migration succeeded over a lost connection'),
      (e: unknown) => e,
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  return err;
}

async function assertMigratesAgain(database: TestDatabase, url = database.url) {
  const again = await runMigrations(url);
  assert.equal(again.applied.length, migrations, 'the next run applies every migration');
  assert.equal(await schemaApplied(database), true);
}

describe('a migration whose session ends', () => {
  // Behind a transaction-mode PgBouncer the server session ends and PgBouncer then closes
  // the migrator's client connection: the same loss, told one hop later.
  for (const [route, urlOf] of [
    ['directly', (database: TestDatabase) => database.url],
    ['through PgBouncer', (database: TestDatabase) => viaPgBouncer(database.name)],
  ] as const) {
    it(`${route}, while it waits for the migrators\u2019 lock: fails with the connection\u2019s error, applies nothing`, async () => {
      const database = await createTestDatabase({ label: 'migrate_loss_lock', migrate: false });
      const lock = await holdInTransaction(
        database.sql,
        (tx) => tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`,
      );
      const migration = runMigrations(urlOf(database));
      await until('the migration to wait for the lock', async () => (await blockedBy(database.sql, lock.pid)) === 1);

      await database.sql`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE ${lock.pid}::int = ANY(pg_blocking_pids(pid))`;
      const err = await failureOf(migration);
      await lock.release();

      assert.deepEqual(uncaught, [], 'nothing thrown outside the migration');
      assert.ok(isConnectionLoss(err) || isConnectionLoss((err as Error).cause), `a lost connection: ${String(err)}`);
      assert.equal(await schemaApplied(database), false, 'nothing applied');
      await assertMigratesAgain(database, urlOf(database));
    });
  }

  it('in the middle of its DDL: the migrations before it are rolled back with it', async () => {
    const database = await createTestDatabase({ label: 'migrate_loss_ddl', migrate: false });
    const { link, url } = await tripwireToDatabase(database.url);
    // A statement of migration 0012, after eleven migrations ran in the same transaction.
    link.arm('CREATE TABLE IF NOT EXISTS luma_guest_sync.listed_page');

    const err = await failureOf(runMigrations(url));

    assert.equal(link.cut(), 1, 'the connection was cut at that statement');
    assert.deepEqual(uncaught, [], 'nothing thrown outside the migration');
    assert.ok(isConnectionLoss(err) || isConnectionLoss((err as Error).cause), `a lost connection: ${String(err)}`);
    assert.equal(await schemaApplied(database), false, 'nothing applied');
    await assertMigratesAgain(database);
  });
});
