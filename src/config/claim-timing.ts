/**
 * How the per-event claim's lease (SYNC_CLAIM_LEASE_SECONDS) must relate to the queue's
 * visibility timeout (PL_EVENT_GUEST_SYNC_VISIBILITY_TIMEOUT_SECONDS) and the consumer's
 * visibility heartbeat.
 *
 * A worker that dies mid-sync (kill -9, a lost host) stops both its heartbeat and its
 * claim renewals. Its message reappears one visibility timeout after the last heartbeat,
 * which came at most one heartbeat interval before the death: so as soon as
 * `visibility - heartbeat` after it. Its claim is free one lease after the last renewal,
 * which came at the latest at the death. The redelivery finds the claim free only when
 * `lease <= visibility - heartbeat`; otherwise it is refused, spends one of the queue's
 * receives (maxReceiveCount, then the DLQ) and waits for the dead holder's claim to run out.
 *
 * The claim's own renewals (every third of the lease, src/sync/claim-hold.ts) and the
 * visibility heartbeat (every third of the visibility timeout) are derived, so this one
 * rule keeps all four consistent.
 */

/**
 * The consumer's visibility heartbeat interval for a visibility timeout (src/consume/
 * consumer.ts calls this): a third of the timeout, at least 1 s.
 */
export function visibilityHeartbeatSeconds(visibilityTimeoutSeconds: number): number {
  return Math.max(1, Math.floor(visibilityTimeoutSeconds / 3));
}

/** The longest claim lease a consumer with this visibility timeout may have. */
export function maxClaimLeaseSeconds(visibilityTimeoutSeconds: number): number {
  return visibilityTimeoutSeconds - visibilityHeartbeatSeconds(visibilityTimeoutSeconds);
}

/** The configuration error for a lease too long for the visibility timeout, or undefined. */
export function claimLeaseProblem(leaseSeconds: number, visibilityTimeoutSeconds: number): string | undefined {
  const max = maxClaimLeaseSeconds(visibilityTimeoutSeconds);
  if (leaseSeconds <= max) return undefined;
  const heartbeat = visibilityHeartbeatSeconds(visibilityTimeoutSeconds);
  return (
    `SYNC_CLAIM_LEASE_SECONDS: must be shorter than PL_EVENT_GUEST_SYNC_VISIBILITY_TIMEOUT_SECONDS by at least ` +
    `the visibility heartbeat interval (a third of it, at least 1 s): with a visibility timeout of ` +
    `${visibilityTimeoutSeconds} s (heartbeat every ${heartbeat} s) the lease may be at most ${max} s, not ` +
    `${leaseSeconds} s. A worker that dies leaves its message to reappear ${max} s after its last heartbeat, and ` +
    `its claim must be free by then, or the redelivery is refused and spends a receive waiting for it`
  );
}
