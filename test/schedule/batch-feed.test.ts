import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBatchFeed } from '../../src/schedule/batch-feed.ts';

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe('createBatchFeed', () => {
  it('cuts pages into batches and hands them out across page boundaries, reading ahead', async () => {
    const reads: number[] = [];
    async function* pages() {
      reads.push(1);
      yield range(0, 25);
      reads.push(2);
      yield range(25, 7);
    }
    const sizes: number[] = [];
    const feed = createBatchFeed(pages(), 10, { readAheadBelow: 3, onPage: (n) => sizes.push(n) });

    const first = await feed.next();
    assert.deepEqual(first, range(0, 10));
    // Two batches of page 1 are left, fewer than 3: page 2 is being read already.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(reads, [1, 2], 'the next page was read before the first was used up');
    const rest: number[][] = [];
    for (let batch = await feed.next(); batch; batch = await feed.next()) rest.push(batch);
    assert.deepEqual(rest, [range(10, 10), range(20, 5), range(25, 7)]);
    assert.deepEqual(sizes, [25, 7]);
    await feed.close();
  });

  it('rethrows a failed page read and closes its source', async () => {
    let closed = false;
    async function* pages() {
      try {
        yield range(0, 10);
        throw new Error('database down');
      } finally {
        closed = true;
      }
    }
    const feed = createBatchFeed(pages(), 10, { readAheadBelow: 1 });
    assert.deepEqual(await feed.next(), range(0, 10));
    await assert.rejects(feed.next(), /database down/);
    await assert.rejects(feed.next(), /database down/, 'every later caller sees it too');
    await feed.close();
    assert.equal(closed, true);
  });

  it('closes a source it stopped reading early (a send failed for good)', async () => {
    let closed = false;
    async function* pages() {
      try {
        for (let page = 0; ; page++) yield range(page * 10, 10);
      } finally {
        closed = true;
      }
    }
    const feed = createBatchFeed(pages(), 10, { readAheadBelow: 1 });
    await feed.next();
    await feed.close();
    assert.equal(closed, true);
  });

  it('reads ahead only once fewer batches than readAheadBelow are left', async () => {
    let reads = 0;
    async function* pages() {
      reads++;
      yield range(0, 40);
      reads++;
      yield range(40, 10);
    }
    const feed = createBatchFeed(pages(), 10, { readAheadBelow: 2 });
    await feed.next(); // three batches of page 1 left
    await feed.next(); // two left: not fewer than 2
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(reads, 1);
    await feed.next(); // one left
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(reads, 2);
    await feed.close();
  });

  it('closes a page source that has no return(), a bare async iterator', async () => {
    const items = [range(0, 10)];
    const bare: AsyncIterable<number[]> = {
      [Symbol.asyncIterator]: () => ({
        next: async () =>
          items.length > 0 ? { done: false, value: items.shift()! } : { done: true, value: undefined },
      }),
    };
    const feed = createBatchFeed(bare, 10, { readAheadBelow: 1 });
    assert.deepEqual(await feed.next(), range(0, 10));
    assert.equal(await feed.next(), undefined);
    await feed.close();
  });
});
