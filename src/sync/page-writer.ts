import type { GuestBatch } from '../providers/types.ts';

/**
 * Hands a sync's pages to the database as they are read, and puts pages together when the
 * database is the slower side (issue 22). At most `inFlight` statements are out at once
 * (two on a real run: one running, the next sent behind it on the same connection,
 * page-connection.ts); a page read while that many are out waits here, and every page
 * waiting is sent as one statement as soon as one is answered. So while Luma is the slower
 * side each page is its own statement, as soon as it is read; while the database is, a
 * statement carries the pages read during the one before it, and a first sync pays the
 * per-statement work (executor start, parameters, the claim's fence, a commit) once for
 * several pages instead of once a page (docs/performance.md).
 *
 * Pages are sent in the order read and a statement carries consecutive pages only. Outcomes
 * are taken in the order sent. Once a statement failed, nothing more is sent: its failure is
 * thrown by the next `add`, or by `drain`. Reading ahead is bounded: `add` returns once its
 * page is sent, or while fewer than `maxGuests` guests wait; a statement carries whole
 * pages, at most `maxGuests` guests unless one page alone has more (an empty page counts
 * as one, so empty pages cannot pile up either).
 */
export interface PageWriterOptions<T> {
  /** Sends these consecutive pages as one statement; resolves with its answer. */
  write(pages: readonly GuestBatch[]): Promise<T>;
  /** Takes a statement's answer, in the order sent; throwing fails the sync there. */
  take(pages: readonly GuestBatch[], answer: T): void;
  /** Statements sent whose answer is not yet taken, at most. */
  inFlight: number;
  /** Guests one statement carries at most (whole pages; one page alone may have more). */
  maxGuests: number;
}

export class PageWriter<T> {
  private readonly options: PageWriterOptions<T>;
  /** Pages read and not yet sent, in page order. */
  private waiting: GuestBatch[] = [];
  private out = 0;
  /** Every answer taken, in the order sent; rejects with the first failure. */
  private taken: Promise<void> = Promise.resolve();
  /** The last statement sent, answered (failed or not). */
  private lastAnswer: Promise<unknown> = Promise.resolve();
  private failure: { err: unknown } | undefined;
  /** Resolves at the next answer taken or failure. */
  private next = Promise.withResolvers<void>();

  constructor(options: PageWriterOptions<T>) {
    this.options = options;
  }

  /** Takes a page read. Resolves when the next page may be read; throws an earlier statement's failure. */
  async add(page: GuestBatch): Promise<void> {
    this.throwIfFailed();
    this.waiting.push(page);
    this.send();
    while (this.waitingGuests() >= this.options.maxGuests) {
      await this.next.promise;
      this.throwIfFailed();
    }
  }

  /**
   * The list is read again from page 1: the pages of the abandoned read that were not sent
   * yet never will be (the new read brings them again). Statements already sent go on.
   */
  restart(): void {
    this.waiting = [];
  }

  /** Sends every page waiting and takes every answer; throws the first failure. */
  async drain(): Promise<void> {
    while (this.waiting.length > 0 && !this.failure) await this.next.promise;
    await this.taken;
  }

  /**
   * Like drain, but never throws: resolves once the last statement sent is answered. Pages
   * read before a failure to read the next one are still written, unless a statement failed.
   */
  async settled(): Promise<void> {
    await this.drain().catch(() => {});
    await this.lastAnswer;
  }

  private send(): void {
    if (this.failure || this.waiting.length === 0 || this.out >= this.options.inFlight) return;
    const pages = this.takeWaiting();
    this.out++;
    const answer = this.options.write(pages);
    this.lastAnswer = answer.catch(() => {});
    const before = this.taken;
    this.taken = before.then(() => answer).then((value) => this.options.take(pages, value));
    this.taken.then(
      () => {
        this.out--;
        this.send();
        this.wake();
      },
      (err: unknown) => {
        this.failure ??= { err };
        this.out--;
        this.wake();
      },
    );
  }

  /** The waiting pages one statement carries: at least one, then as many as fit in maxGuests. */
  private takeWaiting(): GuestBatch[] {
    let guests = weight(this.waiting[0]!);
    let count = 1;
    while (count < this.waiting.length && guests + weight(this.waiting[count]!) <= this.options.maxGuests) {
      guests += weight(this.waiting[count]!);
      count++;
    }
    return this.waiting.splice(0, count);
  }

  private waitingGuests(): number {
    return this.waiting.reduce((sum, page) => sum + weight(page), 0);
  }

  private wake(): void {
    this.next.resolve();
    this.next = Promise.withResolvers<void>();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.err;
  }
}

/** A page's share of a statement: its guests, and an empty page (skipped entries only) counts one. */
function weight(page: GuestBatch): number {
  return Math.max(1, page.guests.length);
}

/** How errors and logs name a statement's pages: "page 3", or "pages 3–5". */
export function pageRange(pages: readonly GuestBatch[]): string {
  const first = pages[0]!.page;
  const last = pages.at(-1)!.page;
  return first === last ? `page ${first}` : `pages ${first}–${last}`;
}
