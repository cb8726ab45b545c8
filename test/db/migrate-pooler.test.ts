import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MIGRATIONS_SCHEMA, migrationTags, runMigrations } from '../../src/db/migrate.ts';
import { checkSchema } from '../../src/db/schema-check.ts';
import { createTestDatabase, withDatabase } from '../support/db.ts';
import { startTestPgBouncer } from '../support/pgbouncer.ts';

const MIGRATION_COUNT = migrationTags().length;

describe('migrations through a transaction-mode PgBouncer', () => {
  it('serialise two migrators sharing one server connection, and leave no lock behind', async () => {
    const database = await createTestDatabase({ migrate: false, label: 'migrate_pooler' });
    // One server connection for both: a session lock taken by one migrator would be "held"
    // by the other too, and would stay on the connection after both finished.
    const bouncer = await startTestPgBouncer({ defaultPoolSize: 1 });
    const url = withDatabase(bouncer.url, database.name);

    const [a, b] = await Promise.all([runMigrations(url), runMigrations(url)]);
    assert.equal(a.applied.length + b.applied.length, MIGRATION_COUNT);
    const [recorded] = await database.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM ${database.sql(MIGRATIONS_SCHEMA)}.migrations`;
    assert.equal(recorded?.n, MIGRATION_COUNT, 'each migration recorded once');
    assert.equal((await checkSchema(database.sql)).ok, true);
    // pg_locks is the whole server's: other test files' locks (in their own databases) are not ours.
    const locks = await database.sql`
      SELECT objid FROM pg_locks
      WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
    assert.deepEqual([...locks], [], 'no advisory lock outlives the migrators');

    assert.deepEqual((await runMigrations(url)).applied, []);
  });
});
