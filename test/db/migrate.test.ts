import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import postgres from 'postgres';
import { runMigrations } from '../../src/db/migrate.ts';
import { checkSchema } from '../../src/db/schema-check.ts';
import { createTestDatabase, withDatabase } from '../support/db.ts';
import { testEnv } from '../support/env.ts';

const PRISMA_DIRECTORY = readFileSync(new URL('../fixtures/prisma-directory.sql', import.meta.url), 'utf8');
/** Every migration the journal lists: a run on a fresh database applies them all. */
const MIGRATION_COUNT = (
  JSON.parse(readFileSync(new URL('../../migrations/meta/_journal.json', import.meta.url), 'utf8')) as {
    entries: unknown[];
  }
).entries.length;

async function snapshot(sql: import('../../src/db/client.ts').Sql) {
  return {
    guests: await sql`SELECT uid, "eventUid", "memberUid", "updatedAt" FROM "PLEventGuest" ORDER BY id`,
    members: await sql`SELECT uid, email, "updatedAt" FROM "Member" ORDER BY id`,
    events: await sql`SELECT uid, "updatedAt" FROM "PLEvent" ORDER BY id`,
  };
}

describe('migrations on an empty database', () => {
  it('create the directory tables and the guest-sync additions, and a second run is a no-op', async () => {
    const database = await createTestDatabase({ migrate: false, label: 'migrate_empty' });
    const before = await checkSchema(database.sql);
    assert.equal(before.ok, false);
    assert.match(before.message, /"PLEventGuest"\."externalGuestId"/);
    assert.match(before.message, /npm run db:migrate/);

    const first = await runMigrations(database.url);
    assert.deepEqual(first.applied, [
      '0000_directory_tables',
      '0001_guest_sync_columns',
      '0002_guest_sync_indexes',
      '0003_rate_budget',
      '0004_sync_history',
      '0005_tier_enqueued',
      '0006_rate_budget_clock_steps',
      '0007_guest_sync_correctness',
      '0008_event_claim',
      '0009_rate_budget_ends',
      '0010_hardened_privileges',
      '0011_rate_budget_reservations',
      '0012_listed_pages',
      '0013_not_yet_guests',
      '0014_page_statement_cpu',
    ]);
    assert.deepEqual(await checkSchema(database.sql), { ok: true, missing: [], message: 'schema ok' });

    const second = await runMigrations(database.url);
    assert.deepEqual(second.applied, []);
  });

  it("the schema check names the page statement's existing-guest probe when it is missing", async () => {
    // Every page statement calls it (migration 0013): without it every sync would fail.
    const database = await createTestDatabase({ label: 'migrate_probe_fn' });
    await database.sql`DROP FUNCTION luma_guest_sync.not_yet_guests(text, text[])`;
    const check = await checkSchema(database.sql);
    assert.deepEqual(check.missing, ['function luma_guest_sync.not_yet_guests(text,text[])']);
    assert.match(check.message, /npm run db:migrate/);
  });

  it('serialise two migrators started at once', async () => {
    const database = await createTestDatabase({ migrate: false, label: 'migrate_race' });
    const [a, b] = await Promise.all([runMigrations(database.url), runMigrations(database.url)]);
    assert.equal(a.applied.length + b.applied.length, MIGRATION_COUNT);
    assert.equal((await checkSchema(database.sql)).ok, true);
  });
});

describe('migrations on a live directory database', () => {
  it('add only what guest sync owns, keep existing duplicates and leave every row untouched', async () => {
    const database = await createTestDatabase({ migrate: false, label: 'migrate_live' });
    await database.sql.unsafe(PRISMA_DIRECTORY);
    const before = await snapshot(database.sql);

    const result = await runMigrations(database.url);
    assert.equal(result.applied.length, MIGRATION_COUNT);
    assert.deepEqual(await snapshot(database.sql), before, 'no row changed');
    assert.equal((await checkSchema(database.sql)).ok, true);

    const columns = await database.sql`
      SELECT table_name, column_name FROM information_schema.columns
      WHERE column_name IN ('externalEventProvider', 'externalEventId', 'guestLastSyncedAt', 'externalGuestId', 'bio', 'isPublic')
      ORDER BY table_name, column_name`;
    assert.deepEqual(
      columns.map((c) => `${c.table_name}.${c.column_name}`),
      [
        'Member.bio',
        'PLEvent.externalEventId',
        'PLEvent.externalEventProvider',
        'PLEvent.guestLastSyncedAt',
        'PLEventGuest.externalGuestId',
        'PushNotification.isPublic',
      ],
      'the directory’s own columns stay; the guest-sync columns are added',
    );
    const [enumValues] = await database.sql`
      SELECT array_agg(enumlabel ORDER BY enumsortorder)::text[] AS labels FROM pg_enum
      WHERE enumtypid = '"PushNotificationCategory"'::regtype`;
    assert.equal(enumValues?.labels.length, 17, 'directory enums untouched');
    assert.equal(await database.sql`SELECT 1 FROM "_prisma_migrations"`.then((r) => r.length), 1);

    assert.deepEqual((await runMigrations(database.url)).applied, [], 'a second run is a no-op');
  });

  it('keep the unique index clear of synced duplicates an earlier implementation left behind', async () => {
    const database = await createTestDatabase({ migrate: false, label: 'migrate_synced_dups' });
    await database.sql.unsafe(PRISMA_DIRECTORY);
    // An earlier sync implementation added the column and wrote duplicates of its own.
    await database.sql.unsafe(`
      ALTER TABLE "PLEventGuest" ADD COLUMN "externalGuestId" TEXT;
      INSERT INTO "PLEventGuest" ("uid", "eventUid", "locationUid", "memberUid", "externalGuestId", "updatedAt") VALUES
        ('s-1', 'ev-1', 'loc-1', 'm-bob', 'gst-1', now()), ('s-2', 'ev-1', 'loc-1', 'm-bob', 'gst-1', now());`);

    await runMigrations(database.url);
    assert.equal((await checkSchema(database.sql)).ok, true);
    // New synced duplicates are refused from now on.
    await assert.rejects(
      database.sql`INSERT INTO "PLEventGuest" ("uid", "eventUid", "locationUid", "memberUid", "externalGuestId", "updatedAt")
        VALUES ('s-3', 'ev-1', 'loc-1', 'm-ada', 'gst-2', now()), ('s-4', 'ev-1', 'loc-1', 'm-ada', 'gst-3', now())`,
      /duplicate key value violates unique constraint "PLEventGuest_synced_event_member_key"/,
    );
  });

  it('build the per-(event, member) index over the second rows a moved event got, and refuse new ones', async () => {
    const database = await createTestDatabase({ migrate: false, label: 'migrate_moved_dups' });
    await database.sql.unsafe(PRISMA_DIRECTORY);
    // The location-keyed check of 0002's time: after a move, a second synced row per member.
    await database.sql.unsafe(`
      ALTER TABLE "PLEventGuest" ADD COLUMN "externalGuestId" TEXT;
      INSERT INTO "PLEventLocation" ("uid", "location", "updatedAt") VALUES ('loc-2', 'Porto', now());
      INSERT INTO "PLEventGuest" ("uid", "eventUid", "locationUid", "memberUid", "externalGuestId", "updatedAt") VALUES
        ('m-1', 'ev-1', 'loc-1', 'm-bob', 'gst-9', now()), ('m-2', 'ev-1', 'loc-2', 'm-bob', 'gst-9', now());`);
    const before = await snapshot(database.sql);

    await runMigrations(database.url);

    assert.deepEqual(await snapshot(database.sql), before, 'the duplicates stay untouched');
    assert.equal((await checkSchema(database.sql)).ok, true);
    await assert.rejects(
      database.sql`INSERT INTO "PLEventGuest" ("uid", "eventUid", "locationUid", "memberUid", "externalGuestId", "updatedAt")
        VALUES ('m-3', 'ev-1', 'loc-1', 'm-ada', 'gst-8', now()), ('m-4', 'ev-1', 'loc-2', 'm-ada', 'gst-8', now())`,
      /duplicate key value violates unique constraint "PLEventGuest_synced_event_member_key"/,
    );
  });

  it('apply on a database that is not UTF8, matching with ASCII whitespace trimmed and lower-cased', async () => {
    const admin = postgres(testEnv('adminDatabaseUrl'), { max: 1, onnotice: () => {} });
    const name = `lgs_migrate_ascii_${Date.now()}`;
    await admin.unsafe(`CREATE DATABASE "${name}" ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
    const url = withDatabase(testEnv('adminDatabaseUrl'), name);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      assert.equal((await runMigrations(url)).applied.length, MIGRATION_COUNT);
      const [row] = await sql`SELECT luma_guest_sync.normalize_email(${' \tvera@Example.dev\n'}) AS email`;
      assert.equal(row?.email, 'vera@example.dev');
    } finally {
      await sql.end();
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  });
});
