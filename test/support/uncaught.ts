import { afterEach, beforeEach } from 'node:test';
import { isDriverStartupRejection } from '../../src/db/driver-rejections.ts';

/**
 * What reached the process's `event` while each case of the calling file ran, emptied
 * before each: postgres.js throws its faults from timers (docs/driver-workarounds.md),
 * outside any promise a test awaits, and a rejection no one handled escapes every await
 * too. Without a listener either would end the test process instead of failing a case.
 */
export function recordDuringEachCase(event: 'uncaughtException' | 'unhandledRejection'): unknown[] {
  const seen: unknown[] = [];
  const record = (err: unknown) => seen.push(err);
  beforeEach(() => {
    seen.length = 0;
    process.on(event, record);
  });
  afterEach(() => {
    process.off(event, record);
  });
  return seen;
}

/**
 * Runs `run` with unhandled rejections handled as the daemon handles them
 * (src/db/driver-rejections.ts) instead of as the test runner does: the driver's dropped
 * startup rejection of a new connection (a PgBouncer `invalid server parameter` or a
 * backend ended while the connection starts) is what the daemon logs and lives through,
 * so it is let pass; every other one is returned, for the caller to assert empty. The
 * runner's own listeners are put back afterwards.
 */
export async function withRejectionsAsTheDaemon(run: () => Promise<void>): Promise<unknown[]> {
  const others: unknown[] = [];
  const runners = process.listeners('unhandledRejection');
  const record = (reason: unknown) => {
    if (!isDriverStartupRejection(reason)) others.push(reason);
  };
  process.removeAllListeners('unhandledRejection');
  process.on('unhandledRejection', record);
  try {
    await run();
    return others;
  } finally {
    process.off('unhandledRejection', record);
    for (const listener of runners) process.on('unhandledRejection', listener);
  }
}
