/**
 * The two waits of a sync that no claim bounds (docs/reliability.md, "A database that stops
 * answering"): taking the claim, before any lease exists, and the finish, after the
 * renewals stop. A database gone silent (a partition, a host gone without a TCP reset)
 * answers nothing until the kernel gives up on the socket: about 70 s for a statement it
 * acknowledged, about 15 minutes (`tcp_retries2`) for one it did not. Meanwhile the sync
 * holds its consumer slot, and the visibility heartbeat keeps its message hidden.
 */
import type { Db } from '../db/client.ts';

/** The database answered nothing for a whole lease while the sync waited on it. */
export class DatabaseSilentError extends Error {
  /** Retryable, not contention: the message waits out its visibility timeout, as in an outage. */
  readonly kind = 'database_silent';
  /** What the sync was waiting for. */
  readonly stage: string;

  constructor(stage: string, detail: string) {
    super(`the database did not answer ${stage}: ${detail}`);
    this.name = 'DatabaseSilentError';
    this.stage = stage;
  }
}

/**
 * `work`'s outcome, waited for as long as the database answers: meanwhile a probe
 * (`SELECT 1`, a pooled statement like a renewal, no connection of its own) goes out every
 * third of `silenceMs`, and once none sent in the last `silenceMs` was answered the wait
 * ends with a DatabaseSilentError naming `stage` (noticed at the next third: within
 * 1⅓ × `silenceMs` of the last answered probe). So a finish that is slow on a database
 * that answers (a large stale removal, a lock, a loaded server) is never cut short, and one
 * whose database went silent is given up one lease into the silence. `work` goes on either
 * way: whatever of it arrives later is fenced by the claim.
 *
 * A pool of one connection has no room for the probe: it would wait for `work`'s own
 * connection and answer only after it. There `work` is waited for as before, to its end or
 * the socket's (the consumer's configuration always leaves a connection spare:
 * DATABASE_POOL_MAX > PL_EVENT_GUEST_SYNC_CONCURRENCY).
 */
export async function whileAnswering<T>(
  db: Db,
  options: { silenceMs: number; stage: string },
  work: Promise<T>,
): Promise<T> {
  if (db.$client.options.max < 2) return work;
  const { silenceMs, stage } = options;
  // When the last answered probe was sent (the wait's start until one is answered).
  let answeredAt = performance.now();
  let giveUp!: (err: Error) => void;
  const silent = new Promise<never>((_, reject) => {
    giveUp = reject;
  });
  // Each third of the silence: give up if it has lasted a whole one, else probe again.
  // A probe answered late still counts from when it was sent; one that failed is no answer.
  const beat = setInterval(() => {
    if (performance.now() - answeredAt >= silenceMs) {
      giveUp(
        new DatabaseSilentError(
          stage,
          `no probe of the database was answered for ${silenceMs / 1000} s, the claim's lease (SYNC_CLAIM_LEASE_SECONDS): it has gone silent (a partition, a host or pooler gone without a reset). A slow one is waited for as long as the database answers. Each of its transactions commits whole or not at all, and only while the claim is this sync's; the next attempt repeats it (rows already added stay)`,
        ),
      );
      return;
    }
    const sentAt = performance.now();
    db.$client`SELECT 1`.then(
      () => {
        answeredAt = Math.max(answeredAt, sentAt);
      },
      () => {},
    );
  }, silenceMs / 3);
  try {
    return await Promise.race([work, silent]);
  } finally {
    clearInterval(beat);
  }
}
