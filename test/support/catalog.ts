import type { Sql } from '../../src/db/client.ts';

/** The directory tables of ../shared/spec/directory-schema.sql (copied as test/fixtures/directory-schema.sql). */
export const DIRECTORY_TABLES = [
  'Image',
  'IrlGatheringPushCandidate',
  'IrlGatheringPushConfig',
  'Member',
  'MemberApproval',
  'PLEvent',
  'PLEventGuest',
  'PLEventLocation',
  'PushNotification',
  'Team',
  'TeamMemberRole',
] as const;

export interface TableShape {
  /** In column order: name, type, NOT NULL and default, as PostgreSQL itself prints them. */
  columns: string[];
  /** Primary, unique, foreign-key and check constraints by name, with their definitions. */
  constraints: string[];
  indexes: string[];
}

/**
 * How the catalog describes each table in the current schema: what two databases must
 * agree on to hold "the same" directory tables. Read from pg_catalog, so it sees what
 * the server built, not what a script meant to build.
 */
export async function describeTables(sql: Sql, tables: readonly string[]): Promise<Record<string, TableShape>> {
  const columns = await sql<{ table: string; line: string }[]>`
    SELECT c.relname AS table,
      format('%I %s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
        CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
        coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')) AS line
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(${tables as string[]})
      AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY c.relname, a.attnum`;
  const constraints = await sql<{ table: string; line: string }[]>`
    SELECT c.relname AS table, format('%I %s', k.conname, pg_get_constraintdef(k.oid)) AS line
    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(${tables as string[]})
    ORDER BY c.relname, k.conname`;
  const indexes = await sql<{ table: string; line: string }[]>`
    SELECT tablename AS table, indexdef AS line FROM pg_indexes
    WHERE schemaname = current_schema() AND tablename = ANY(${tables as string[]})
    ORDER BY tablename, indexname`;
  const shapes: Record<string, TableShape> = {};
  for (const table of tables) shapes[table] = { columns: [], constraints: [], indexes: [] };
  for (const row of columns) shapes[row.table]?.columns.push(row.line);
  for (const row of constraints) shapes[row.table]?.constraints.push(row.line);
  for (const row of indexes) shapes[row.table]?.indexes.push(row.line);
  return shapes;
}

/** Every enum type of the current schema with its labels in order. */
export async function describeEnums(sql: Sql): Promise<Record<string, string[]>> {
  const rows = await sql<{ name: string; labels: string[] }[]>`
    SELECT t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text[] AS labels
    FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
    WHERE t.typnamespace = current_schema()::regnamespace
    GROUP BY t.typname ORDER BY t.typname`;
  return Object.fromEntries(rows.map((row) => [row.name, row.labels]));
}
