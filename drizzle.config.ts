import { defineConfig } from 'drizzle-kit';

/**
 * drizzle-kit's view of the project: the schema of the directory tables the worker uses
 * and the migrations folder. The migrations are hand-written SQL (they must be no-ops on
 * a live directory database; see README, "Migrations"): add one with
 * `npm run db:generate -- --custom --name <what>`, which registers an empty file in the
 * journal, and write it in the same idempotent style.
 */
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './migrations',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://localhost/directory' },
  migrations: { schema: 'luma_guest_sync', table: 'migrations' },
});
