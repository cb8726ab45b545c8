/**
 * The promise's value, or undefined when `ms` pass first: how long the history is waited
 * for, at shutdown (backlog.ts) and at a sync's end (record-attempt.ts), without giving up
 * the write itself, which goes on.
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
