/**
 * Cuts pages of items into batches and hands them out one at a time to several senders,
 * reading the next page while the current one's batches are still going out. Senders
 * then keep going across page boundaries: with one pool per page, each page ended with
 * the slowest call of its last round while the other senders sat idle.
 */
export interface BatchFeed<T> {
  /** The next batch, or undefined once every page was handed out. Rethrows a failed page read. */
  next(): Promise<T[] | undefined>;
  /** Stops reading: closes the page source (a generator's `finally` runs). */
  close(): Promise<void>;
}

export function createBatchFeed<T>(
  pages: AsyncIterable<readonly T[]>,
  batchSize: number,
  options: { readAheadBelow: number; onPage?: (items: number) => void },
): BatchFeed<T> {
  const source = pages[Symbol.asyncIterator]();
  const batches: T[][] = [];
  let exhausted = false;
  let readFailure: { err: unknown } | undefined;
  let reading: Promise<void> | undefined;

  // One read at a time: an async generator queues concurrent next() calls anyway.
  const read = () => {
    reading ??= (async () => {
      try {
        const page = await source.next();
        if (page.done) {
          exhausted = true;
          return;
        }
        options.onPage?.(page.value.length);
        for (let start = 0; start < page.value.length; start += batchSize) {
          batches.push(page.value.slice(start, start + batchSize));
        }
      } catch (err) {
        readFailure ??= { err };
        exhausted = true;
      } finally {
        reading = undefined;
      }
    })();
    return reading;
  };

  return {
    async next() {
      for (;;) {
        if (readFailure) throw readFailure.err;
        const batch = batches.shift();
        if (batch) {
          // Read ahead while the senders still have work, so none waits for the database.
          if (batches.length < options.readAheadBelow && !exhausted) void read();
          return batch;
        }
        if (exhausted) return undefined;
        await read();
      }
    },
    async close() {
      await reading;
      await source.return?.(undefined);
    },
  };
}
