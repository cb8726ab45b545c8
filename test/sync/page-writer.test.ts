/**
 * The page writer's rules (src/sync/page-writer.ts), each forced with statements a test
 * answers by hand: when a page is sent, which pages go out together, how far reading runs
 * ahead, the order answers are taken in, and what a failure stops. The database's side
 * (the statements, their fence and listing) is in pipelined-pages.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GuestBatch } from '../../src/providers/types.ts';
import { PageWriter, pageRange } from '../../src/sync/page-writer.ts';

function page(n: number, guests = 1): GuestBatch {
  return {
    page: n,
    guests: Array.from({ length: guests }, (_, i) => ({
      externalGuestId: `gst-${n}-${i}`,
      email: `g${n}-${i}@x.org`,
      name: null,
      approvalStatus: 'approved',
      registeredAt: null,
    })),
    skipped: 0,
    nextCursor: `c${n + 1}`,
    skippedGuestIds: [],
  };
}

/** A writer whose statements the test answers: `sent` lists each statement's pages. */
function handWriter(options: { inFlight?: number; maxGuests?: number; take?: (pages: number[]) => void } = {}) {
  const sent: number[][] = [];
  const answers: PromiseWithResolvers<string>[] = [];
  const taken: number[][] = [];
  const writer = new PageWriter<string>({
    inFlight: options.inFlight ?? 2,
    maxGuests: options.maxGuests ?? 10,
    write: (pages) => {
      sent.push(pages.map((p) => p.page));
      const answer = Promise.withResolvers<string>();
      answers.push(answer);
      return answer.promise;
    },
    take: (pages, answer) => {
      const numbers = pages.map((p) => p.page);
      assert.equal(answer, `answer ${numbers.join(',')}`, 'each statement is taken with its own answer');
      options.take?.(numbers);
      taken.push(numbers);
    },
  });
  /** Answers statement `i` (0-based, in the order sent) as itself. */
  const answer = async (i: number) => {
    answers[i]!.resolve(`answer ${sent[i]!.join(',')}`);
    await settle();
  };
  const fail = async (i: number, err: Error) => {
    answers[i]!.reject(err);
    await settle();
  };
  return { writer, sent, taken, answer, fail };
}

/** Lets every reaction that is ready run. */
async function settle() {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Whether `promise` has settled by now. */
async function isDone(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await settle();
  return done;
}

describe('page writer', () => {
  it('sends each page at once, alone, while fewer statements than its limit are out', async () => {
    const { writer, sent, answer } = handWriter();
    await writer.add(page(1));
    await writer.add(page(2));
    assert.deepEqual(sent, [[1], [2]]);
    await answer(0);
    await writer.add(page(3));
    assert.deepEqual(sent, [[1], [2], [3]]);
  });

  it('puts the pages read while its limit is out in one statement, sent when one is answered', async () => {
    const { writer, sent, taken, answer } = handWriter();
    for (const n of [1, 2, 3, 4, 5]) await writer.add(page(n));
    assert.deepEqual(sent, [[1], [2]], 'pages 3 to 5 wait');
    await answer(0);
    assert.deepEqual(sent, [[1], [2], [3, 4, 5]]);
    await answer(1);
    await answer(2);
    await writer.drain();
    assert.deepEqual(taken, [[1], [2], [3, 4, 5]]);
  });

  it('drain waits for the pages still waiting to be sent and taken, not only for the statements out', async () => {
    const { writer, sent, taken, answer } = handWriter();
    for (const n of [1, 2, 3, 4]) await writer.add(page(n));
    const drained = writer.drain();
    await answer(0);
    assert.deepEqual(sent, [[1], [2], [3, 4]]);
    await answer(1);
    assert.equal(await isDone(drained), false, 'pages 3 and 4 are out, not answered');
    await answer(2);
    assert.equal(await isDone(drained), true);
    assert.deepEqual(taken, [[1], [2], [3, 4]]);
  });

  it('takes answers in the order sent, whatever order they come in', async () => {
    const { writer, taken, answer } = handWriter();
    await writer.add(page(1));
    await writer.add(page(2));
    await answer(1);
    assert.deepEqual(taken, [], "page 2's answer waits for page 1's");
    await answer(0);
    assert.deepEqual(taken, [[1], [2]]);
  });

  it('carries at most maxGuests guests a statement, in whole pages; a larger page goes alone, an empty one counts one', async () => {
    const { writer, sent, answer } = handWriter({ inFlight: 1, maxGuests: 5 });
    await writer.add(page(1));
    const adds = [writer.add(page(2, 2)), writer.add(page(3, 2)), writer.add(page(4, 2)), writer.add(page(5, 0))];
    await answer(0);
    assert.deepEqual(sent, [[1], [2, 3]], 'page 4 would make six guests');
    await answer(1);
    assert.deepEqual(sent, [[1], [2, 3], [4, 5]], 'the empty page 5 counts one');
    await answer(2);
    await Promise.all(adds);
    const big = writer.add(page(6, 8));
    await settle();
    assert.deepEqual(sent.at(-1), [6], 'a page larger than maxGuests is sent whole, alone');
    await answer(3);
    await big;
    await writer.drain();
  });

  it('reads ahead only while fewer than maxGuests guests wait: the next add waits until they are sent', async () => {
    const { writer, sent, answer } = handWriter({ inFlight: 1, maxGuests: 3 });
    await writer.add(page(1));
    assert.equal(await isDone(writer.add(page(2))), true, 'one guest waits');
    assert.equal(await isDone(writer.add(page(3))), true, 'two wait');
    const third = writer.add(page(4));
    assert.equal(await isDone(third), false, 'a third reaches maxGuests: reading stops');
    await answer(0);
    assert.equal(await isDone(third), true, 'pages 2 to 4 were sent');
    assert.deepEqual(sent, [[1], [2, 3, 4]]);
  });

  it('one page at a time with a limit of one and maxGuests 1 (a dry run): each sent after the one before is taken', async () => {
    const order: string[] = [];
    const { writer, sent, answer } = handWriter({ inFlight: 1, maxGuests: 1, take: (p) => order.push(`take ${p}`) });
    await writer.add(page(1));
    const second = writer.add(page(2));
    await settle();
    assert.deepEqual(sent, [[1]]);
    assert.equal(await isDone(second), false);
    await answer(0);
    assert.deepEqual(sent, [[1], [2]]);
    assert.deepEqual(order, ['take 1'], "page 2 was sent once page 1's answer was taken");
    await second;
  });

  it('sends nothing after a failed statement, and throws its error from the next add and from drain', async () => {
    const { writer, sent, taken, answer, fail } = handWriter();
    for (const n of [1, 2, 3, 4]) await writer.add(page(n));
    const boom = new Error('page 1 failed');
    await fail(0, boom);
    assert.deepEqual(sent, [[1], [2]], 'pages 3 and 4 are never sent');
    await assert.rejects(writer.add(page(5)), boom);
    await assert.rejects(writer.drain(), boom);
    await answer(1);
    assert.deepEqual(taken, [], "page 2's answer is not taken after page 1 failed");
    assert.deepEqual(sent, [[1], [2]]);
  });

  it('a take that throws (a claim lost) fails the writer the same way', async () => {
    const lost = new Error('claim lost before page 2 was written');
    const { writer, sent, answer } = handWriter({
      take: (p) => {
        if (p.includes(2)) throw lost;
      },
    });
    for (const n of [1, 2, 3]) await writer.add(page(n));
    await answer(0);
    assert.deepEqual(sent, [[1], [2], [3]]);
    await answer(1);
    await writer.add(page(4)).then(
      () => assert.fail('expected the loss'),
      (err: unknown) => assert.equal(err, lost),
    );
    await answer(2);
    assert.deepEqual(sent, [[1], [2], [3]], 'page 4 is never sent');
  });

  it('a waiting add throws when a statement before it fails', async () => {
    const { writer, fail } = handWriter({ inFlight: 1, maxGuests: 1 });
    await writer.add(page(1));
    const boom = new Error('page 1 failed');
    const waiting = assert.rejects(writer.add(page(2)), boom);
    await fail(0, boom);
    await waiting;
  });

  it('a restart drops the pages of the abandoned read not yet sent; those sent go on', async () => {
    const { writer, sent, taken, answer } = handWriter();
    for (const n of [5, 6, 7, 8]) await writer.add(page(n));
    writer.restart();
    await writer.add(page(1));
    await answer(0);
    assert.deepEqual(sent, [[5], [6], [1]], 'pages 7 and 8 of the abandoned read are not sent');
    await answer(1);
    await answer(2);
    await writer.drain();
    assert.deepEqual(taken, [[5], [6], [1]]);
  });

  it('settled sends the pages waiting, then resolves once the last statement sent is answered', async () => {
    const { writer, sent, answer } = handWriter();
    for (const n of [1, 2, 3]) await writer.add(page(n));
    const settled = writer.settled();
    assert.equal(await isDone(settled), false);
    await answer(0);
    assert.deepEqual(sent, [[1], [2], [3]], 'page 3, read before the failure to read page 4, is written');
    await answer(1);
    assert.equal(await isDone(settled), false, 'page 3 is not answered yet');
    await answer(2);
    assert.equal(await isDone(settled), true);
  });

  it('settled never throws: after a failure it waits for the statements already sent, and sends nothing more', async () => {
    const { writer, sent, answer, fail } = handWriter();
    for (const n of [1, 2, 3]) await writer.add(page(n));
    await fail(0, new Error('page 1 failed'));
    const settled = writer.settled();
    assert.equal(await isDone(settled), false, "page 2's statement is still out");
    await answer(1);
    assert.equal(await isDone(settled), true);
    await settled;
    assert.deepEqual(sent, [[1], [2]]);
  });

  it('names a statement of one page "page N", of several "pages N–M" (errors and logs)', () => {
    assert.equal(pageRange([page(3)]), 'page 3');
    assert.equal(pageRange([page(3), page(4), page(5)]), 'pages 3–5');
  });
});
