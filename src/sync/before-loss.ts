/**
 * Waits that end when the sync's claim is lost (claim-hold.ts). A statement of the sync
 * still unanswered then writes nothing once the claim has expired (its fence checks the
 * expiry when it runs), and before that nobody else can hold the claim: the sync need not
 * wait for it. A database gone silent answers nothing until TCP gives up, minutes later
 * (docs/reliability.md).
 */
import type { ClaimHold } from './claim-hold.ts';

/** Resolves when `promise` settles or the claim is lost, whichever is first; never rejects. */
export function untilLost(hold: ClaimHold, promise: Promise<unknown>): Promise<unknown> {
  return beforeLoss(hold, promise).catch(() => {});
}

/** `promise`'s outcome, unless the claim is lost first: then the loss (a ClaimLostError). */
export function beforeLoss<T>(hold: ClaimHold, promise: Promise<T>): Promise<T> {
  if (hold.lost.aborted) return Promise.reject(hold.lost.reason);
  return new Promise<T>((resolve, reject) => {
    const lost = () => reject(hold.lost.reason);
    hold.lost.addEventListener('abort', lost);
    promise.then(resolve, reject).finally(() => hold.lost.removeEventListener('abort', lost));
  });
}
