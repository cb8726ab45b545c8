import type { Db } from '../db/client.ts';
import { during } from '../db/database-limits.ts';
import { repeatOnConnectionLoss } from '../db/repeat-on-connection-loss.ts';
import type { Logger } from '../log.ts';
import { within } from '../within.ts';
import { acquireClaim, type Claim, type ClaimSettings, releaseClaim } from './claim.ts';
import { DatabaseSilentError } from './database-silence.ts';

const STAGE = 'taking the claim of the event';

/**
 * The sync's claim (claim.ts), or the reason there is none. The grant is repeated on a lost
 * connection (repeat-on-connection-loss.ts): one that did commit refuses the repeat as
 * another holder's claim, which is what the lost answer would have cost.
 *
 * No lease bounds this wait yet, so it is bounded by one: a grant the database has not
 * answered within a lease ends the sync with DatabaseSilentError (retryable; the message
 * comes back after its visibility timeout). Waiting longer buys nothing: a grant that
 * lands later would hold the event for a lease from then. Such a late grant is handed to
 * nobody (no renewal, no write) and released as soon as it arrives, keeping the
 * checkpoint; should the release not get through, it expires by itself within its lease.
 * A grant that waits on the claim's row, locked by another sync's finish for a whole
 * lease, ends the same way, and its late grant is released the same way.
 */
export async function takeClaim(
  deps: { db: Db; log: Logger },
  eventUid: string,
  settings: ClaimSettings,
): Promise<Claim> {
  const grant = during(STAGE, () => repeatOnConnectionLoss(() => acquireClaim(deps.db, eventUid, settings)));
  const claim = await within(grant, settings.leaseSeconds * 1000);
  if (claim) return claim;
  void grant.then((late) => releaseLate(deps, late), ignore);
  throw new DatabaseSilentError(
    STAGE,
    `no answer within ${settings.leaseSeconds} s, the claim's lease (SYNC_CLAIM_LEASE_SECONDS): it has gone silent (a partition, a host or pooler gone without a reset), or another sync's finish has held the claim's row that long. Nothing was read or written; a grant that arrives later is released, and the message comes back after its visibility timeout`,
  );
}

/** Frees a claim granted after its sync gave up on it: nobody holds it, and it would keep the event from syncing. */
async function releaseLate(deps: { db: Db; log: Logger }, claim: Claim): Promise<void> {
  try {
    await repeatOnConnectionLoss(() => releaseClaim(deps.db, claim, { clearCheckpoint: false }));
    deps.log.info(
      { eventUid: claim.eventUid, token: claim.token },
      'late claim released: granted after its sync gave up',
    );
  } catch (err) {
    deps.log.warn(
      { err, eventUid: claim.eventUid, token: claim.token },
      'could not release a late claim: it frees itself when its lease ends',
    );
  }
}

/** A grant that failed after its sync gave up on it needs nothing undone. */
function ignore(): void {}
