import type { Logger } from '../log.ts';
import type { SyncableEvent } from '../schedule/discover.ts';

const HOUR = 3_600_000;
const MINUTE = 60_000;

/** What became of one event of a delivery. */
export type Offer = 'scheduled' | 'coalesced' | 'capped';

export interface DebouncerOptions {
  windowMs: number;
  maxPerEventPerHour: number;
  maxPerMinute: number;
  /** Luma requests the sends of any minute may be planned to cost (the webhooks' share of the budget). */
  requestsPerMinute?: number;
  /**
   * Enqueues one sync of `event` for the window starting at `windowStart`. `early`: sent
   * before the window ended (on stop), so it must not use the window's deduplication id.
   */
  send: (event: SyncableEvent, windowStart: Date, early: boolean) => Promise<void>;
  log: Pick<Logger, 'error'>;
  now?: () => number;
}

/**
 * Turns a burst of deliveries for one event into one sync. Windows are aligned to the
 * clock (multiples of windowMs), so every replica agrees on them: the first delivery for
 * an event in a window schedules one send at the window's end, with a deduplication id
 * keyed by event and window, and later deliveries in the window join it. Sending at the
 * end — not the start — matters: the sync then starts after every delivery of the
 * window, so no registration is left out by a sync that read the list too early.
 * The caps bound what forged or runaway deliveries can cost, per process.
 *
 * A send before the window's end (stop(), on shutdown) is `early`: it must not claim the
 * window's deduplication id, or SQS would drop another replica's send at the window's end
 * — the one that starts after that replica's later deliveries (issue 21, rolling deploys).
 */
export class WebhookDebouncer {
  readonly #options: DebouncerOptions;
  readonly #now: () => number;
  /** Scheduled sends by event uid. */
  readonly #pending = new Map<string, { timer: NodeJS.Timeout; run: (early: boolean) => Promise<void> }>();
  /** Send times in the last hour, by event uid; and all send times in the last minute. */
  readonly #sentByEvent = new Map<string, number[]>();
  #sentRecently: number[] = [];
  /** Estimated requests of the sends scheduled in the last minute. */
  #spentRecently: Array<{ at: number; cost: number }> = [];
  readonly #inFlight = new Set<Promise<void>>();
  #stopped = false;

  constructor(options: DebouncerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** `cost`: the sync's estimated Luma requests (its event's last page count). */
  offer(event: SyncableEvent, cost = 1): Offer {
    if (this.#pending.has(event.eventUid)) return 'coalesced';
    const now = this.#now();
    this.#sentRecently = this.#sentRecently.filter((t) => t > now - MINUTE);
    this.#spentRecently = this.#spentRecently.filter((s) => s.at > now - MINUTE);
    const spent = this.#spentRecently.reduce((sum, s) => sum + s.cost, 0);
    if (this.#options.requestsPerMinute !== undefined && spent + cost > this.#options.requestsPerMinute)
      return 'capped';
    const mine = (this.#sentByEvent.get(event.eventUid) ?? []).filter((t) => t > now - HOUR);
    this.#sentByEvent.set(event.eventUid, mine);
    if (mine.length >= this.#options.maxPerEventPerHour || this.#sentRecently.length >= this.#options.maxPerMinute) {
      return 'capped';
    }
    // Counted when scheduled, so a burst across many events cannot overshoot the caps.
    mine.push(now);
    this.#sentRecently.push(now);
    this.#spentRecently.push({ at: now, cost });
    const windowStart = Math.floor(now / this.#options.windowMs) * this.#options.windowMs;
    const run = (early: boolean) => this.#send(event, new Date(windowStart), early);
    if (this.#stopped) {
      void this.#track(run(true));
      return 'scheduled';
    }
    const timer = setTimeout(() => void this.#track(run(false)), windowStart + this.#options.windowMs - now);
    this.#pending.set(event.eventUid, { timer, run });
    return 'scheduled';
  }

  /** Sends everything still waiting for its window now, and waits for every send. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const { timer, run } of this.#pending.values()) {
      clearTimeout(timer);
      void this.#track(run(true));
    }
    await Promise.all([...this.#inFlight]);
  }

  /** Sends waiting for their window. */
  get pending(): number {
    return this.#pending.size;
  }

  async #send(event: SyncableEvent, windowStart: Date, early: boolean): Promise<void> {
    this.#pending.delete(event.eventUid);
    try {
      await this.#options.send(event, windowStart, early);
    } catch (err) {
      // Luma was already answered; the freshness tiers and the daily pass still cover the event.
      this.#options.log.error({ err, eventUid: event.eventUid }, 'could not enqueue a webhook-triggered sync');
    }
  }

  #track(promise: Promise<void>): Promise<void> {
    this.#inFlight.add(promise);
    return promise.finally(() => this.#inFlight.delete(promise));
  }
}
