import { eq, sql } from 'drizzle-orm';
import type { Config } from '../config/config.ts';
import { createDatabase } from '../db/client.ts';
import { plEvent } from '../db/schema.ts';
import { withSyncHistory } from '../history/record-attempt.ts';
import type { Logger } from '../log.ts';
import { syncEvent } from '../sync/sync-event.ts';
import type { SyncMessage } from '../sync/types.ts';
import { createProviders, createSyncDeps } from '../wiring.ts';

/** `sync --event <uid> [--dry-run]`: one event now, in the foreground; the result as JSON on stdout. */
export async function runSyncCommand(config: Readonly<Config>, log: Logger, eventUid: string, dryRun: boolean) {
  const database = createDatabase({
    url: config.database.url,
    poolMax: config.database.poolMax,
    pooler: config.database.pooler,
  });
  try {
    const [event] = await database.db
      .select({
        locationUid: plEvent.locationUid,
        externalEventId: plEvent.externalEventId,
        provider: sql<string | null>`${plEvent.externalEventProvider}::text`,
      })
      .from(plEvent)
      .where(eq(plEvent.uid, eventUid));
    if (!event) {
      log.error({ eventUid }, 'no such event');
      return 1;
    }
    if (!event.provider || !event.externalEventId || !event.locationUid) {
      log.error({ eventUid, ...event }, 'event is not linked to a provider event with a location');
      return 1;
    }
    const message = {
      eventUid,
      externalEventId: event.externalEventId,
      locationUid: event.locationUid,
      providerType: event.provider,
    } as SyncMessage;
    const deps = createSyncDeps(config, database, createProviders(config, database, log), log);
    const history = { sql: database.sql, retentionDays: config.history.retentionDays, log };
    const result = await withSyncHistory(history, { eventUid, trigger: 'manual', dryRun }, () =>
      syncEvent({ ...deps, log: log.child({ trigger: 'manual' }) }, message, { dryRun }),
    );
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } finally {
    await database.close();
  }
}
