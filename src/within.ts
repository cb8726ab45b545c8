/**
 * The promise's value, or undefined when `ms` pass first, without giving up the work
 * itself, which goes on: how long the history is waited for, at shutdown
 * (history/backlog.ts) and at a sync's end (history/record-attempt.ts), a claim's grant
 * (sync/take-claim.ts) and a free pooled connection (db/read-only-sessions.ts).
 */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
