/**
 * Seeds the demo directory (src/local/demo-data.ts) into DATABASE_URL, for the compose
 * stack: `node src/local/seed-cli.ts`. Idempotent; needs a migrated database.
 */
import { createDatabase } from '../db/client.ts';
import { seedDemoDirectory } from './seed.ts';

const url = process.env.DATABASE_URL;
if (!url) {
  console.error('seed: DATABASE_URL is required');
  process.exit(2);
}
const database = createDatabase({ url, poolMax: 1 });
try {
  await seedDemoDirectory(database.db);
  console.log('seed: demo directory in place');
} finally {
  await database.close();
}
