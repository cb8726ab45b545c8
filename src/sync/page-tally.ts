import type { Logger } from '../log.ts';
import type { GuestBatch } from '../providers/types.ts';
import type { PageOutcome } from './add-page-guests.ts';
import { type Claim, ClaimLostError } from './claim.ts';
import type { ClaimHold } from './claim-hold.ts';
import { pageRange } from './page-writer.ts';

/**
 * What a sync's pages add up to, taken from their statements' outcomes in page order
 * (sync-event.ts sends page N+1's statement while page N's runs, so an outcome arrives
 * after the next page was sent). Each read of the list is a pass: a refused cursor starts
 * the list again from page 1, and the matches of the abandoned pass no longer count (its
 * rows created stay created: the next pass finds them).
 */
export class PageTally {
  matched = 0;
  created = 0;
  ambiguous = 0;
  /** The page the read has reached: stale removal needs pages 1 to it recorded (remove-stale.ts). */
  lastPage = 0;
  /** Passes started after the first: the current one's number. */
  passes = 0;
  /**
   * A dry run records nothing, so stale removal keeps what the list names here: a row
   * whose Luma guest id, or whose member, is on the list. A real run's page statements
   * record the list in the database instead.
   */
  readonly kept?: { guestIds: Set<string>; memberUids: Set<string> };
  /** A dry run's members counted as created so far: its later pages must not count them again. */
  readonly counted?: Set<string>;
  private readonly claim: Claim;
  private readonly hold: ClaimHold;
  private readonly log: Logger;
  private readonly dryRun: boolean;

  constructor(options: { claim: Claim; hold: ClaimHold; log: Logger; dryRun: boolean; removal: boolean }) {
    this.claim = options.claim;
    this.hold = options.hold;
    this.log = options.log;
    this.dryRun = options.dryRun;
    if (options.dryRun) this.counted = new Set();
    if (options.dryRun && options.removal) this.kept = { guestIds: new Set(), memberUids: new Set() };
  }

  /** The list is read again from page 1: its matches are counted once. */
  restart(): void {
    this.passes++;
    this.matched = 0;
    this.ambiguous = 0;
  }

  /**
   * Adds the outcome of one statement, which wrote `batches` (consecutive pages, one or
   * more: page-writer.ts), sent at `sentAt` during pass `pass`. Pages their claim no
   * longer fenced wrote nothing: the sync ends there with ClaimLostError.
   */
  take(batches: readonly GuestBatch[], outcome: PageOutcome, sentAt: number, pass: number): void {
    const first = batches[0]!.page;
    const last = batches.at(-1)!.page;
    if (!outcome.held) {
      throw new ClaimLostError(this.claim, `expired or was taken over before ${pageRange(batches)} was written`);
    }
    if (!this.dryRun) this.hold.confirmed(sentAt);
    this.lastPage = last;
    for (const batch of batches) {
      for (const guest of batch.guests) this.kept?.guestIds.add(guest.externalGuestId);
      // A skipped entry that has a guest id (its email was unusable) still keeps that id's row.
      for (const id of batch.skippedGuestIds) this.kept?.guestIds.add(id);
    }
    for (const uid of outcome.matchedMemberUids) this.kept?.memberUids.add(uid);
    for (const uid of outcome.createdMemberUids) this.counted?.add(uid);
    const current = pass === this.passes;
    if (current && outcome.ambiguousGuestIds.length > 0) {
      this.ambiguous += outcome.ambiguousGuestIds.length;
      // Duplicate accounts in the directory: an admin may want to merge them.
      this.log.warn(
        { page: first, lastPage: last, externalGuestIds: outcome.ambiguousGuestIds },
        'guest email matches several members: one added',
      );
    }
    const created = outcome.createdMemberUids.length;
    if (current) this.matched += outcome.matchedGuests;
    this.created += created;
    const figures = {
      fetched: sum(batches, (b) => b.guests.length),
      matched: outcome.matchedGuests,
      created,
      skipped: sum(batches, (b) => b.skipped),
    };
    // One line per statement: pages first to last (the same page when it carried one).
    this.log.debug({ page: first, lastPage: last, ...figures }, 'page processed');
  }
}

function sum(batches: readonly GuestBatch[], of: (batch: GuestBatch) => number): number {
  return batches.reduce((total, batch) => total + of(batch), 0);
}
