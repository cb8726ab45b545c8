import type { Db } from '../db/client.ts';
import { during, explainLimit } from '../db/database-limits.ts';
import { endReadOnlySessionsAfter } from '../db/read-only-sessions.ts';
import { repeatOnConnectionLoss } from '../db/repeat-on-connection-loss.ts';
import type { Logger } from '../log.ts';
import { getProvider, type ProviderRegistry } from '../providers/registry.ts';
import type { FetchSummary } from '../providers/types.ts';
import { addPageGuests, type PageOutcome } from './add-page-guests.ts';
import { beforeLoss, untilLost } from './before-loss.ts';
import { type Claim, ClaimLostError, type ClaimSettings, releaseClaim } from './claim.ts';
import { type ClaimHold, holdClaim } from './claim-hold.ts';
import { DatabaseSilentError, whileAnswering } from './database-silence.ts';
import { finishSync } from './finish-sync.ts';
import { loadTarget } from './load-target.ts';
import { pageConnection } from './page-connection.ts';
import { PageTally } from './page-tally.ts';
import { PageWriter, pageRange } from './page-writer.ts';
import type { ListedGuests } from './remove-stale.ts';
import { takeClaim } from './take-claim.ts';
import type { SyncMessage, SyncResult } from './types.ts';

export interface SyncDeps {
  db: Db;
  providers: ProviderRegistry;
  log: Logger;
  now?: () => Date;
  removeStale?: { enabled: boolean; maxShare: number };
  /** The per-event claim (claim.ts); a 60 s lease held as host:pid when absent. */
  claim?: ClaimSettings;
  /** Told about every finished page and every finished sync, for metrics. */
  observer?: SyncObserver;
  /** Guests one page statement carries at most when pages wait for it (page-writer.ts); tests set fewer. */
  statementGuests?: number;
  /** Test seams: a point where a test can hold the sync to force an interleaving. */
  hooks?: SyncHooks;
}

export interface SyncObserver {
  /** The stale-removal guard kept guests (reason: skipped_entries, empty_list, share_exceeded or resumed). */
  staleGuard?(guard: string): void;
}

export interface SyncHooks {
  /** Awaited after the last page was written, before the finish (moves, removal, guestLastSyncedAt, push). */
  beforeFinish?(): Promise<void>;
}

export interface SyncOptions {
  dryRun?: boolean;
  signal?: AbortSignal;
}

/**
 * Guests one page statement carries at most: three of Luma's pages of 100. The larger a
 * statement, the less per-statement work per guest, and the more the sync holds while its
 * statements are out (two of them, and one statement's worth of pages waiting): at 300 the
 * heap a 100k sync holds stays ~2.4 MiB, at 500 it was 5 MiB and at 1,000 10 MiB, where the
 * first sync's database CPU did not improve past the noise (docs/performance.md).
 */
const STATEMENT_GUESTS = 300;

/** The claim settings of a sync whose deps name none. */
const DEFAULT_CLAIM: ClaimSettings = { leaseSeconds: 60 };

/**
 * Syncs one event start to end: reads the provider's approved list page by page, adds
 * the matched members who are not yet guests, then — only when every page succeeded —
 * moves synced rows to the event's current location, removes stale guests (opt-in),
 * records guestLastSyncedAt and refreshes the IRL push data. Any failure before that
 * leaves guestLastSyncedAt as it was; rows already added stay, and a redelivery
 * completes the rest without duplicates.
 *
 * The sync holds the event's claim (claim.ts) from before it reads Luma to its last
 * write: a second sync of the event meanwhile is refused at once with the retryable
 * EventSyncRunningError. Every write is fenced by the claim's token, so a sync whose
 * claim lapsed or was taken over writes nothing more and ends with ClaimLostError. Each
 * page records the next page's cursor with the claim, and the page itself for stale
 * removal (luma_guest_sync.listed_page); a later attempt resumes there (reading Luma from
 * page 1 instead if the cursor is refused) and removes as exactly as a whole read. A
 * completed sync clears the checkpoint and releases the claim in its last transaction
 * (finish-sync.ts); any other ending releases the claim and keeps the checkpoint.
 */
export async function syncEvent(deps: SyncDeps, message: SyncMessage, options: SyncOptions = {}): Promise<SyncResult> {
  const log = deps.log.child({ component: 'PLEventGuestSyncService', eventUid: message.eventUid });
  const settings = deps.claim ?? DEFAULT_CLAIM;
  options.signal?.throwIfAborted();
  // Bounded by a lease, and repeated on a lost connection (take-claim.ts).
  const claim = await takeClaim({ db: deps.db, log }, message.eventUid, settings).catch(async (err: unknown) => {
    await endReadOnlySessionsAfter(deps.db.$client, err);
    throw await explainLimit(deps.db, err);
  });
  log.debug({ token: claim.token, holder: claim.holder, checkpoint: claim.checkpoint }, 'claim taken');
  const hold = holdClaim({ db: deps.db, log }, claim, { renewEveryMs: settings.renewEveryMs });
  const signal = options.signal ? AbortSignal.any([options.signal, hold.lost]) : hold.lost;
  let result: SyncResult;
  try {
    result = await syncClaimedEvent(deps, log, message, { ...options, signal }, claim, hold);
  } catch (err) {
    // A loss noticed by the renewals is the reason, whatever the abort surfaced as.
    const reason = hold.lost.aborted ? hold.lost.reason : err;
    // A refusal by a read-only server ends the pool's read-only sessions first, so that the
    // release below reaches the new primary after a switchover (read-only-sessions.ts).
    await endReadOnlySessionsAfter(deps.db.$client, reason);
    // Kept: the checkpoint, for the next attempt. Fenced by the token: a no-op once lost, or
    // once released, so it is repeated on a lost connection (repeat-on-connection-loss.ts):
    // after the page connection was lost, the pool's next statement may fail with its end.
    // The renewals go on meanwhile (the `finally` stops them), so a database that stopped
    // answering holds the sync here no longer than the claim: once it is lost there is
    // nothing left to release.
    const release = repeatOnConnectionLoss(() => releaseClaim(deps.db, claim, { clearCheckpoint: false })).catch(
      (releaseErr: unknown) =>
        log.warn({ err: releaseErr }, 'could not release the claim: it frees itself when its lease ends'),
    );
    // Not after a finish the database stopped answering: the renewals have stopped, and the
    // release, sent all the same, would wait for the socket (it is fenced like the rest).
    if (!(reason instanceof DatabaseSilentError)) await untilLost(hold, release);
    if (reason instanceof ClaimLostError) log.warn({ token: claim.token, reason: reason.message }, 'claim lost');
    // A database limit (statement_timeout, lock_timeout, …) is told with the setting's value.
    throw await explainLimit(deps.db, reason);
  } finally {
    hold.stop();
  }
  // Logged once the claim is released, so that whoever sees this line can sync the event again.
  log.info(result, 'sync complete');
  return result;
}

async function syncClaimedEvent(
  deps: SyncDeps,
  log: Logger,
  message: SyncMessage,
  options: SyncOptions,
  claim: Claim,
  hold: ClaimHold,
): Promise<SyncResult> {
  const started = performance.now();
  const now = deps.now ?? (() => new Date());
  const dryRun = options.dryRun ?? false;
  const provider = getProvider(deps.providers, message.providerType);
  const target = await beforeLoss(
    hold,
    during('reading the event from the directory', () => loadTarget(deps.db, message, log)),
  );

  // A dry run reads the whole list (it reports what removal would do) and records nothing.
  const checkpoint = claim.checkpoint;
  const resume =
    !dryRun && checkpoint && checkpoint.externalEventId === target.externalEventId
      ? { cursor: checkpoint.nextCursor, page: checkpoint.pagesDone + 1 }
      : undefined;
  // Whether this attempt read the list from page 1 (a refused cursor restarts it there).
  let readFromStart = resume === undefined;

  log.info(
    { providerType: message.providerType, externalEventId: target.externalEventId, dryRun, resumeAtPage: resume?.page },
    resume ? 'sync start: resuming from the checkpoint' : 'sync start',
  );
  const removal = deps.removeStale?.enabled ? { ...deps.removeStale } : undefined;
  const tally = new PageTally({ claim, hold, log, dryRun, removal: removal !== undefined });

  // A real run sends the next pages' statement while one runs, on one connection
  // (page-connection.ts), and puts the pages read meanwhile in one statement
  // (page-writer.ts); a dry run, whose counts build on the pages before, one page at a time.
  const connection = dryRun ? undefined : pageConnection(deps.db);
  const writer = new PageWriter<{ outcome: PageOutcome; sentAt: number; pass: number }>({
    inFlight: dryRun ? 1 : 2,
    maxGuests: dryRun ? 1 : (deps.statementGuests ?? STATEMENT_GUESTS),
    write: async (batches) => {
      const sentAt = performance.now();
      const pass = tally.passes;
      const first = batches[0]!.page;
      const last = batches.at(-1)!;
      const fence = dryRun
        ? undefined
        : {
            claim,
            checkpoint: { nextCursor: last.nextCursor, pagesDone: last.page, externalEventId: target.externalEventId },
            firstPage: first,
            listing: removal
              ? batches.map((batch) => ({
                  page: batch.page,
                  fetched: batch.guests.length,
                  skippedGuestIds: batch.skippedGuestIds,
                  unidentified: batch.skipped - batch.skippedGuestIds.length,
                }))
              : undefined,
          };
      const outcome = await during(`the page statement of ${pageRange(batches)}`, () =>
        addPageGuests(
          { db: deps.db, now, connection },
          target,
          batches.flatMap((batch) => batch.guests),
          { dryRun, alreadyCounted: tally.counted, fence },
        ),
      );
      return { outcome, sentAt, pass };
    },
    take: (batches, { outcome, sentAt, pass }) => tally.take(batches, outcome, sentAt, pass),
  });

  let summary: FetchSummary;
  try {
    summary = await provider.fetchGuestsInBatches((batch) => beforeLoss(hold, writer.add(batch)), {
      eventUid: message.eventUid,
      externalEventId: target.externalEventId,
      signal: options.signal,
      start: resume,
      // The list is read again from page 1: count matches once. Rows created stay created
      // (the second pass finds them), and the member sets are sets.
      onRestart: () => {
        writer.restart();
        tally.restart();
        readFromStart = true;
      },
    });
    await beforeLoss(hold, writer.drain());
  } finally {
    // No statement of this sync runs on after it: the claim is released, or the finish
    // begins, once the last one sent is answered (pages read before a failure to read the
    // next are written first). Unless the claim is lost first (a database that went silent
    // answers nothing until TCP gives up, minutes later): the statement's fence refuses it
    // wherever it arrives after the claim's expiry, and before that expiry no other sync
    // can hold the claim (docs/claims.md).
    await untilLost(hold, writer.settled());
  }

  await deps.hooks?.beforeFinish?.();
  options.signal?.throwIfAborted();
  // The renewals stop here: the finish's fencing UPDATE holds the claim's row locked until
  // it commits (a renewal would wait for it, then find the claim released).
  hold.stop();

  const list: ListedGuests = dryRun
    ? {
        kind: 'given',
        fetched: summary.fetched,
        unidentified: summary.unidentified,
        guestIds: [...(tally.kept?.guestIds ?? [])],
        memberUids: [...(tally.kept?.memberUids ?? [])],
      }
    : { kind: 'pages', lastPage: tally.lastPage };
  // Waited for as long as the database answers, slow or not: a silent one for a lease (database-silence.ts).
  const { followed, stale } = await whileAnswering(
    deps.db,
    {
      silenceMs: claim.leaseSeconds * 1000,
      stage: 'the finish (moved rows, stale removal, guestLastSyncedAt, push refresh)',
    },
    finishSync({ db: deps.db, now, log }, claim, target, {
      dryRun,
      stale: removal ? { eventUid: target.eventUid, list, maxShare: removal.maxShare, dryRun } : undefined,
    }),
  );
  if (followed.moved > 0) log.info(followed, 'event moved: synced guests follow it to its current location');

  let removed = 0;
  let staleToRemove: SyncResult['staleToRemove'];
  let staleGuard: SyncResult['staleGuard'];
  if (stale && removal) {
    // A dry run reports what a real run would remove: nothing when a guard trips.
    removed = stale.guard ? 0 : dryRun ? stale.stale : stale.removed;
    if (dryRun && !stale.guard) staleToRemove = stale.staleRows;
    if (stale.guard) {
      staleGuard = stale.guard;
      deps.observer?.staleGuard?.(stale.guard);
      if (stale.guard === 'resumed') {
        log.info(
          { resumedAtPage: resume?.page, lastPage: tally.lastPage },
          'stale removal skipped: the pages read before this attempt resumed are not all recorded; the next sync reads the list whole',
        );
      } else {
        const figures = {
          ...stale,
          skipped: summary.skipped,
          unidentified: summary.unidentified,
          fetched: summary.fetched,
        };
        log.warn({ ...figures, maxShare: removal.maxShare }, 'stale guests kept: removal guard tripped');
      }
    }
  }

  const result: SyncResult = {
    eventUid: message.eventUid,
    providerType: message.providerType,
    pages: summary.pages,
    fetched: summary.fetched,
    matched: tally.matched,
    ...(tally.ambiguous > 0 ? { ambiguous: tally.ambiguous } : {}),
    created: tally.created,
    skipped: summary.skipped,
    removed,
    dryRun,
    durationMs: Math.round(performance.now() - started),
    ...(staleToRemove ? { staleToRemove } : {}),
    ...(staleGuard ? { staleGuard } : {}),
    ...(resume && !readFromStart ? { resumedAtPage: resume.page } : {}),
  };
  return result;
}
