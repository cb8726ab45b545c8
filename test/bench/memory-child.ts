/**
 * One sync in a process of its own, so its peak RSS is its own:
 *   node test/bench/memory-child.ts <databaseUrl> <lumaUrl> <messageJson>
 * Prints {"maxRssBytes", "fetched", "created"} as one JSON line.
 */
import { createDatabase } from '../../src/db/client.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { benchSyncDeps } from './sync-env.ts';

const [databaseUrl, lumaUrl, messageJson] = process.argv.slice(2);
const database = createDatabase({ url: databaseUrl!, poolMax: 2 });
const result = await syncEvent(benchSyncDeps(database.db, lumaUrl!), JSON.parse(messageJson!));
await database.close();
globalThis.gc?.(); // a full collection first: what the process still holds once the sync is done
const heapUsedAfterGcBytes = process.memoryUsage().heapUsed;
console.log(
  JSON.stringify({
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    fetched: result.fetched,
    created: result.created,
    heapUsedAfterGcBytes,
  }),
);
