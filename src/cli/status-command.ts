import cron from 'node-cron';
import type { Config } from '../config/config.ts';
import { createDatabase } from '../db/client.ts';
import { eventHistory } from '../history/queries.ts';
import { tierPlanOptions } from '../schedule/tier-schedule.ts';
import { readEventStatuses } from '../status/event-status.ts';
import { formatEventHistory, formatStatusTable } from '../status/format-status.ts';

/** Attempts `status --event` lists. */
const HISTORY_LIMIT = 20;

export interface StatusCommandOptions {
  eventUid?: string;
  json: boolean;
  now?: Date;
  write?: (text: string) => void;
  /** Where a failure's explanation goes (stderr unless a test captures it). */
  writeError?: (text: string) => void;
}

/**
 * `luma-guest-sync status`: the syncable events with their last sync and next due time,
 * or one event's recent history. Exit code 1 when any shown event's last sync failed or
 * is overdue, so it serves as a scheduled check; 0 otherwise.
 */
export async function runStatusCommand(config: Readonly<Config>, options: StatusCommandOptions): Promise<number> {
  const now = options.now ?? new Date();
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const writeError = options.writeError ?? ((text: string) => process.stderr.write(text));
  const database = createDatabase({
    url: config.database.url,
    poolMax: 1,
    pooler: config.database.pooler,
  });
  try {
    const events = await readEventStatuses(database.sql, {
      now,
      overdueAfterHours: config.overdueAfterHours,
      nextDailyRun: config.enabled ? nextCronRun(config.cron) : undefined,
      tiers: config.tiers.enabled ? tierPlanOptions(config) : undefined,
      eventUid: options.eventUid,
    });
    const attention = events.some((e) => e.failed || e.overdue) ? 1 : 0;
    if (options.eventUid === undefined) {
      write(options.json ? `${JSON.stringify({ events }, null, 2)}\n` : `${formatStatusTable(events, now)}\n`);
      return attention;
    }
    const [event] = events;
    if (!event) {
      // JSON readers get the answer where they read results; people get it with the errors.
      if (options.json) write(`${JSON.stringify({ error: 'no such event' })}\n`);
      else writeError(`luma-guest-sync: no event with uid ${options.eventUid}\n`);
      return 1;
    }
    const history = await eventHistory(database.sql, event.eventUid, HISTORY_LIMIT);
    write(
      options.json
        ? `${JSON.stringify({ event, history }, null, 2)}\n`
        : `${formatEventHistory(event, history, now)}\n`,
    );
    return attention;
  } finally {
    await database.close();
  }
}

/**
 * The daily pass's next firing (UTC), from node-cron itself so it matches the scheduler.
 * getNextRuns, not getNextRun, which answers null for a task that was never started.
 */
function nextCronRun(expression: string): Date | undefined {
  const task = cron.createTask(expression, () => {}, { timezone: 'UTC' });
  try {
    return task.getNextRuns(1)[0];
  } finally {
    void task.destroy();
  }
}
