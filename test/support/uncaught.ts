import { afterEach, beforeEach } from 'node:test';

/**
 * The exceptions no one caught while each case of the calling file runs, emptied before
 * each: postgres.js throws its faults from timers (docs/driver-workarounds.md), outside
 * any promise a test awaits, and without a listener they would end the test process.
 */
export function recordUncaughtExceptions(): unknown[] {
  const uncaught: unknown[] = [];
  const record = (err: unknown) => uncaught.push(err);
  beforeEach(() => {
    uncaught.length = 0;
    process.on('uncaughtException', record);
  });
  afterEach(() => {
    process.off('uncaughtException', record);
  });
  return uncaught;
}
