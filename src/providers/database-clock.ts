/**
 * One call to the database: made at `sentMs` on this process's monotonic clock, received
 * at `askedMs` on the database's (statement_timestamp()). It was received after it was
 * made, so at any moment T of this process the database's clock read at most
 * T + (askedMs - sentMs): an upper bound whatever the delays, with no clock synchronised.
 */
export interface Asked {
  sentMs: number;
  askedMs: number;
}

/** Clocks' rates may differ: 100 ppm, far more than NTP lets them, added per ms of a sample's age. */
const DRIFT_PER_MS = 1e-4;

/**
 * The latest the database's clock can read at a moment of this process, from the calls of
 * the last `maxAgeMs`: the call that went fastest gives the tightest bound. Used to stamp
 * a request's end no later than needed and never earlier than it was (shared-budget.ts).
 * A database clock stepped back only makes the bound later; one stepped forward makes it
 * early by the step until the calls before the step have aged out.
 */
export function createDatabaseClockBound(maxAgeMs: number) {
  let recent: Asked[] = [];
  return {
    /** Remembers a call whose arrival the database reported. */
    record(asked: Asked): void {
      if (Number.isFinite(asked.askedMs) && Number.isFinite(asked.sentMs)) recent.push(asked);
    },
    /** The database's clock at this process's `atMs`, at the latest; `own` always counts. */
    latestAt(atMs: number, own: Asked): number {
      recent = recent.filter((asked) => atMs - asked.sentMs <= maxAgeMs);
      let bound = Number.POSITIVE_INFINITY;
      for (const asked of [own, ...recent]) {
        const drift = (atMs - asked.sentMs) * DRIFT_PER_MS;
        bound = Math.min(bound, atMs + (asked.askedMs - asked.sentMs) + drift);
      }
      // A millisecond more for rounding between the two clocks' readings.
      return bound + 1;
    },
  };
}
