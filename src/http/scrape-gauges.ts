import { setTimeout as sleep } from 'node:timers/promises';
import { Gauge, type Registry } from 'prom-client';
import type { ReadinessReport } from './readiness.ts';

export interface ScrapeGaugeSources {
  /** The same evaluation /readyz answers with (shared, bounded per check). */
  readiness: () => Promise<ReadinessReport>;
  /** Syncable events past their overdue cut-off; see src/status/overdue.ts. */
  countOverdueEvents: () => Promise<number>;
  /** The cut-off, shown as the overdue gauge's label so a dashboard can say what "overdue" meant. */
  overdueAfterHours: number;
}

/** A scrape must answer within Prometheus's default 10 s timeout even when the database hangs. */
const READ_TIMEOUT_MS = 3_000;

/**
 * Gauges read when Prometheus scrapes, not kept up to date in between: readiness is
 * otherwise only evaluated when something probes /readyz (ECS does not), and overdue
 * events are a property of the directory, not of this process.
 * - `lgs_ready` is 0 when the checks say no, and also when they cannot be evaluated.
 * - `lgs_events_overdue` is left out of a scrape whose count failed: an error is not a
 *   0, which would hide an outage behind "nothing overdue" (lgs_ready reports it).
 */
export function registerScrapeGauges(registry: Registry, sources: ScrapeGaugeSources): void {
  new Gauge({
    name: 'lgs_ready',
    help: 'Whether this worker is ready (1) or not (0): the /readyz checks, evaluated at scrape time.',
    registers: [registry],
    async collect() {
      const report = await bounded(sources.readiness()).catch(() => undefined);
      this.set(report?.ready ? 1 : 0);
    },
  });
  const after_hours = String(sources.overdueAfterHours);
  new Gauge({
    name: 'lgs_events_overdue',
    help: 'Syncable events whose last successful sync is older than PL_EVENT_GUEST_SYNC_OVERDUE_AFTER_HOURS.',
    // A labelled gauge can be emptied; an unlabelled one always prints a value, 0 after reset().
    labelNames: ['after_hours'] as const,
    registers: [registry],
    async collect() {
      const overdue = await bounded(sources.countOverdueEvents()).catch(() => undefined);
      if (overdue === undefined) this.reset();
      else this.set({ after_hours }, overdue);
    },
  });
}

async function bounded<T>(work: Promise<T>): Promise<T> {
  const timeout = new AbortController();
  try {
    return await Promise.race([
      work,
      sleep(READ_TIMEOUT_MS, undefined, { signal: timeout.signal }).then(() => {
        throw new Error(`no answer within ${READ_TIMEOUT_MS} ms`);
      }),
    ]);
  } finally {
    timeout.abort();
  }
}
