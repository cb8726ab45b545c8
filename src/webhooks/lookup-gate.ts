const MINUTE = 60_000;

/** A delivery past the lookup cap: acknowledged and dropped, with no database work. */
export class LookupCappedError extends Error {
  constructor() {
    super('directory lookups per minute capped');
    this.name = 'LookupCappedError';
  }
}

/**
 * The cheap checks before a delivery's one piece of database work, the directory lookup:
 * a Luma event looked up within `reuseMs` (one debounce window) is answered from that
 * lookup, and at most `maxPerMinute` lookups start in any minute — so forged or replayed
 * deliveries, unsigned ones above all, cost a bounded number of queries. The cache holds
 * only lookups of the last `reuseMs`, so it is bounded by the cap too. A failed lookup is
 * not kept: the next delivery tries again.
 */
export function gateLookups<T>(
  lookup: (lumaEventId: string) => Promise<T>,
  options: { maxPerMinute: number; reuseMs: number; now?: () => number },
): (lumaEventId: string) => Promise<T> {
  const now = options.now ?? Date.now;
  const recent = new Map<string, { at: number; result: Promise<T> }>();
  let started: number[] = [];
  return (lumaEventId) => {
    const at = now();
    for (const [id, entry] of recent) if (entry.at <= at - options.reuseMs) recent.delete(id);
    const reused = recent.get(lumaEventId);
    if (reused) return reused.result;
    started = started.filter((t) => t > at - MINUTE);
    if (started.length >= options.maxPerMinute) return Promise.reject(new LookupCappedError());
    started.push(at);
    const result = lookup(lumaEventId);
    recent.set(lumaEventId, { at, result });
    result.catch(() => recent.delete(lumaEventId));
    return result;
  };
}
