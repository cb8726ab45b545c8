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
 * third of `silenceMs`, and once a probe has gone unanswered for `silenceMs`, with none
 * sent after it answered, the wait ends with a DatabaseSilentError naming `stage` (noticed
 * at the next third: within 1⅓ × `silenceMs` of the last answer). So a finish that is slow
 * on a database that answers (a large stale removal, a lock, a loaded server) is never cut
 * short, and one whose database went silent is given up one lease into the silence. `work`
 * goes on either way: whatever of it arrives later is fenced by the claim.
 *
 * Silence is judged from a probe that is waiting, never from how long ago one was
 * answered, and over the time this process ran: a stall of its own (a long GC pause, CPU
 * throttled by its limit, a paused container) sends no probe and reads no answer while it
 * lasts, and must not pass for the database's silence. A beat that comes late measures the
 * stall, and the probes waiting then are counted from that much later.
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
  const everyMs = silenceMs / 3;
  // The probes still unanswered, oldest first. An answer also settles every probe sent
  // before it; a probe that failed is no answer and stays.
  const waiting: Array<{ sentAt: number; countedFrom: number }> = [];
  let beatAt = performance.now();
  let giveUp!: (err: Error) => void;
  const silent = new Promise<never>((_, reject) => {
    giveUp = reject;
  });
  // Each third of the silence: probe again, unless one has waited a whole silence.
  const beat = setInterval(() => {
    const now = performance.now();
    const stalled = Math.max(0, now - beatAt - everyMs);
    beatAt = now;
    for (const probe of waiting) probe.countedFrom += stalled;
    const oldest = waiting[0];
    if (oldest !== undefined && now - oldest.countedFrom >= silenceMs) {
      giveUp(new DatabaseSilentError(stage, SILENT_DETAIL(silenceMs)));
      return;
    }
    waiting.push({ sentAt: now, countedFrom: now });
    db.$client`SELECT 1`.then(
      () => {
        while (waiting[0] !== undefined && waiting[0].sentAt <= now) waiting.shift();
      },
      () => {},
    );
  }, everyMs);
  try {
    return await Promise.race([work, silent]);
  } finally {
    clearInterval(beat);
  }
}

const SILENT_DETAIL = (silenceMs: number) =>
  `no probe of the database was answered for ${silenceMs / 1000} s, the claim's lease (SYNC_CLAIM_LEASE_SECONDS): it has gone silent (a partition, a host or pooler gone without a reset). A slow one is waited for as long as the database answers. Each of its transactions commits whole or not at all, and only while the claim is this sync's; the next attempt repeats it (rows already added stay)`;
