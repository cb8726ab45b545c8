import type { Db } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { type Claim, ClaimLostError, renewClaim } from './claim.ts';

export interface ClaimHold {
  /** Aborted with a ClaimLostError once the claim is known lost, or cannot be known held any longer. */
  readonly lost: AbortSignal;
  /** A fenced write that succeeded, sent at `sentAt` on the hold's clock (performance.now()), renewed the lease too. */
  confirmed(sentAt: number): void;
  /** Stops renewing; idempotent. A renewal in flight is then ignored whatever it answers. */
  stop(): void;
}

/**
 * Keeps a claim alive while its sync runs: renews it every `renewEveryMs` (a third of the
 * lease by default, so two renewals may fail before it lapses). The sync is aborted with
 * ClaimLostError when a renewal finds the claim gone (taken over, or expired because the
 * process was paused), or when no renewal or page write succeeded for a whole lease:
 * the claim may have lapsed by then, and the sync must not act as if it still held it.
 *
 * The lease is measured here from the moment the last successful renewal was *sent*, by
 * this process's monotonic clock: the database set the expiry later than that, from its
 * own clock, so this side always gives up first, whatever the clocks say.
 *
 * The abort only stops the sync early; correctness does not depend on it: every write is
 * fenced in the database (claim.ts).
 */
export function holdClaim(
  deps: { db: Db; log: Logger },
  claim: Claim,
  options: {
    renewEveryMs?: number;
    /** A monotonic clock in milliseconds; tests pass the mocked one their timers run on. */
    now?: () => number;
  } = {},
): ClaimHold {
  const controller = new AbortController();
  const leaseMs = claim.leaseSeconds * 1000;
  const everyMs = options.renewEveryMs ?? Math.max(1, Math.floor(leaseMs / 3));
  const now = options.now ?? (() => performance.now());
  let confirmedAt = now();
  let stopped = false;

  const lose = (why: string) => {
    if (stopped || controller.signal.aborted) return;
    clearInterval(timer);
    clearTimeout(deadline);
    controller.abort(new ClaimLostError(claim, why));
  };

  // Fires when a whole lease passed since the last confirmation; pushed back by each one.
  let deadline = setTimeout(() => lose('could not be renewed before its lease ran out'), leaseMs);
  deadline.unref();
  const confirmed = (sentAt: number) => {
    if (stopped || sentAt <= confirmedAt) return;
    confirmedAt = sentAt;
    clearTimeout(deadline);
    deadline = setTimeout(
      () => lose('could not be renewed before its lease ran out'),
      Math.max(0, confirmedAt + leaseMs - now()),
    );
    deadline.unref();
  };

  const beat = async () => {
    const sentAt = now();
    try {
      const held = await renewClaim(deps.db, claim);
      if (stopped) return;
      if (held) confirmed(sentAt);
      else lose('expired or was taken over by another sync');
    } catch (err) {
      if (stopped) return;
      // Retried at the next beat; the deadline above ends the sync if none succeeds in time.
      deps.log.warn({ err, eventUid: claim.eventUid }, 'claim renewal failed');
    }
  };

  const timer = setInterval(() => void beat(), everyMs);
  timer.unref();
  return {
    lost: controller.signal,
    confirmed,
    stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(deadline);
    },
  };
}
