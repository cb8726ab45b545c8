import { afterEach, beforeEach } from 'node:test';

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
