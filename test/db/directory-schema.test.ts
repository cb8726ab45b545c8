import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { is } from 'drizzle-orm';
import { getTableConfig, PgTable } from 'drizzle-orm/pg-core';
import { MIGRATIONS_FOLDER, runMigrations } from '../../src/db/migrate.ts';
import * as schema from '../../src/db/schema.ts';
import { DIRECTORY_TABLES, describeEnums, describeTables } from '../support/catalog.ts';
import { createTestDatabase } from '../support/db.ts';

/** pg_dump --schema-only of the live directory: a copy of ../shared/spec/directory-schema.sql. */
const LIVE_SCHEMA = readFileSync(new URL('../fixtures/directory-schema.sql', import.meta.url), 'utf8');
const LIVE_FIXTURE = readFileSync(new URL('../fixtures/prisma-directory.sql', import.meta.url), 'utf8');

/** Runs migration 0000 by itself, statement by statement, as the migrator sends it. */
async function runMigrationZero(sql: import('../../src/db/client.ts').Sql): Promise<void> {
  const text = readFileSync(path.join(MIGRATIONS_FOLDER, '0000_directory_tables.sql'), 'utf8');
  for (const statement of text.split('--> statement-breakpoint')) await sql.unsafe(statement);
}

describe('migration 0000 and the live directory schema', () => {
  it('creates, on an empty database, exactly the live columns, types, defaults, constraints and indexes, table by table', async () => {
    const live = await createTestDatabase({ migrate: false, label: 'schema_live' });
    await live.sql.unsafe(LIVE_SCHEMA);
    const fresh = await createTestDatabase({ migrate: false, label: 'schema_fresh' });
    await runMigrationZero(fresh.sql);

    const expected = await describeTables(live.sql, DIRECTORY_TABLES);
    const actual = await describeTables(fresh.sql, DIRECTORY_TABLES);
    for (const table of DIRECTORY_TABLES) {
      assert.ok(expected[table]?.columns.length, `the live fixture has ${table}`);
      assert.deepEqual(actual[table], expected[table], `"${table}" as migration 0000 creates it`);
    }
    assert.deepEqual(await describeEnums(fresh.sql), await describeEnums(live.sql), 'enum types and labels');
  });

  it('changes nothing on a database that already has the live schema', async () => {
    const database = await createTestDatabase({ migrate: false, label: 'schema_noop' });
    await database.sql.unsafe(LIVE_SCHEMA);
    const before = {
      tables: await describeTables(database.sql, DIRECTORY_TABLES),
      enums: await describeEnums(database.sql),
    };
    await runMigrationZero(database.sql);
    const after = {
      tables: await describeTables(database.sql, DIRECTORY_TABLES),
      enums: await describeEnums(database.sql),
    };
    assert.deepEqual(after, before);
  });

  it('leaves an empty database and a live one with the same directory tables once every migration ran', async () => {
    const live = await createTestDatabase({ migrate: false, label: 'schema_live_all' });
    await live.sql.unsafe(LIVE_SCHEMA);
    await runMigrations(live.url);
    const fresh = await createTestDatabase({ label: 'schema_fresh_all' });
    assert.deepEqual(
      await describeTables(fresh.sql, DIRECTORY_TABLES),
      await describeTables(live.sql, DIRECTORY_TABLES),
    );
    assert.deepEqual(await describeEnums(fresh.sql), await describeEnums(live.sql));
  });

  it('is the schema of the "live database" fixture the migration tests start from', async () => {
    const database = await createTestDatabase({ migrate: false, label: 'schema_fixture' });
    await database.sql.unsafe(LIVE_FIXTURE);
    const reference = await createTestDatabase({ migrate: false, label: 'schema_reference' });
    await reference.sql.unsafe(LIVE_SCHEMA);
    assert.deepEqual(
      await describeTables(database.sql, DIRECTORY_TABLES),
      await describeTables(reference.sql, DIRECTORY_TABLES),
    );
    assert.deepEqual(await describeEnums(database.sql), await describeEnums(reference.sql));
  });

  it('agrees with the Drizzle schema: every declared column exists with its type, nullability and default', async () => {
    const database = await createTestDatabase({ label: 'schema_drizzle' });
    const rows = await database.sql<
      { table: string; column: string; type: string; notNull: boolean; hasDefault: boolean }[]
    >`
      SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
        a.attnotnull AS "notNull", a.atthasdef AS "hasDefault"
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      WHERE c.relnamespace = current_schema()::regnamespace AND a.attnum > 0 AND NOT a.attisdropped`;
    const byName = new Map(rows.map((row) => [`${row.table}.${row.column}`, row]));
    const tables = Object.values(schema as Record<string, unknown>).filter((value): value is PgTable =>
      is(value, PgTable),
    );
    assert.ok(tables.length >= DIRECTORY_TABLES.length, 'every directory table is declared');
    const mismatches: string[] = [];
    for (const table of tables) {
      const config = getTableConfig(table);
      for (const column of config.columns) {
        const live = byName.get(`${config.name}.${column.name}`);
        const declared = `${column.getSQLType()}${column.notNull ? ' not null' : ''}${column.hasDefault ? ' default' : ''}`;
        const found = live && `${live.type}${live.notNull ? ' not null' : ''}${live.hasDefault ? ' default' : ''}`;
        if (normaliseType(declared) !== normaliseType(found ?? 'missing')) {
          mismatches.push(
            `"${config.name}"."${column.name}": declared ${declared}, database has ${found ?? 'no such column'}`,
          );
        }
      }
    }
    assert.deepEqual(mismatches, []);
  });
});

/** Drizzle and format_type spell a few types differently. */
function normaliseType(text: string): string {
  return text
    .replace(/^serial/, 'integer')
    .replace(/timestamp \(3\)/, 'timestamp(3) without time zone')
    .replace(/"/g, '');
}
