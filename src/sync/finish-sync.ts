import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { during } from '../db/database-limits.ts';
import { withTransaction } from '../db/transaction.ts';
import type { Logger } from '../log.ts';
import { type Claim, extendFencedClaim, fenceClaim, releaseClaim } from './claim.ts';
import { followEventLocation } from './follow-location.ts';
import { refreshPushInTransaction } from './post-sync.ts';
import { forgetListedPages, removeStaleGuests, type StaleInput, type StaleRemoval } from './remove-stale.ts';

/** The event a finished sync wrote to, as the directory had it when the sync started. */
export interface FinishTarget {
  eventUid: string;
  locationUid: string;
  externalEventId: string;
}

export interface FinishOutcome {
  /** Synced rows moved to the event's current location, and the locations they left. */
  followed: { moved: number; leftLocationUids: string[] };
  /** What stale removal found (and, unless a dry run, did); absent when it did not run. */
  stale?: StaleRemoval;
}

/**
 * What a sync does once every page is written, in two transactions, each fenced first
 * by the claim's token: the claim's row stays locked until each commits, so no takeover
 * can come between the fence and the writes after it, and a lost claim rolls them back
 * (ClaimLostError). Two, not one, for the business flow's order: guestLastSyncedAt is
 * committed before the push refresh starts (shared/spec/irl-push.md).
 *
 * 1. synced rows follow a moved event, stale guests are removed (when `stale` is given),
 *    guestLastSyncedAt is set and the read's recorded list (luma_guest_sync.listed_page)
 *    is deleted;
 * 2. the IRL push data of the event's gathering (and of any it left) is refreshed, and the
 *    claim is released with its checkpoint cleared: the next sync reads the whole list.
 *
 * A dry run writes nothing: it only asks removal what it would do, and releases the claim
 * keeping the checkpoint.
 */
export async function finishSync(
  deps: { db: Db; now: () => Date; log: Logger },
  claim: Claim,
  target: FinishTarget,
  options: { dryRun: boolean; stale?: StaleInput },
): Promise<FinishOutcome> {
  const outcome: FinishOutcome = { followed: { moved: 0, leftLocationUids: [] } };
  if (options.dryRun) {
    try {
      const stale = options.stale;
      if (stale)
        outcome.stale = await during('stale removal', () => removeStaleGuests(deps, { ...stale, dryRun: true }));
    } finally {
      await releaseClaim(deps.db, claim, { clearCheckpoint: false });
    }
    return outcome;
  }
  // Each stage is named in the error a database limit (statement_timeout, lock_timeout, …) ends it with.
  await during('the finish (moved rows, guestLastSyncedAt)', () =>
    withTransaction(deps.db, async (tx) => {
      await fenceClaim(tx, claim);
      // Synced rows follow a moved event; the gatherings they left are refreshed below too.
      outcome.followed = await followEventLocation({ db: tx, now: deps.now }, target);
      const stale = options.stale;
      if (stale)
        outcome.stale = await during('stale removal', () => removeStaleGuests({ db: tx }, { ...stale, dryRun: false }));
      // The read's recorded list goes with the same statement: it was used, or removal is off.
      const syncedAt = deps.now().toISOString();
      await tx.execute(sql`
      WITH forgotten AS (${forgetListedPages(target.eventUid)})
      UPDATE "PLEvent" SET "guestLastSyncedAt" = ${syncedAt}::timestamp(3), "updatedAt" = ${syncedAt}::timestamp(3)
      WHERE uid = ${target.eventUid}`);
      // The renewals have stopped: a transaction longer than the lease would otherwise leave
      // the second one's fence an expired claim, and a slow finish would fail for being slow.
      await extendFencedClaim(tx, claim);
    }),
  );
  await during('the post-sync push refresh', () =>
    withTransaction(deps.db, async (tx) => {
      await fenceClaim(tx, claim);
      const left = outcome.followed.leftLocationUids.map((locationUid) => ({ eventUid: target.eventUid, locationUid }));
      await refreshPushInTransaction({ db: tx, now: deps.now, log: deps.log }, [target, ...left]);
      // Completed: the next sync reads the whole list again.
      await releaseClaim(tx, claim, { clearCheckpoint: true });
    }),
  );
  return outcome;
}
