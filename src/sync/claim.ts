import { hostname } from 'node:os';
import { type SQL, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';

/**
 * The claim on one event's sync (migration 0008, luma_guest_sync.event_claim): at most one
 * sync of an event writes at a time, for syncs of any length, on any replica, through a
 * transaction-mode pooler. It is a row, not a lock held by a session: nothing depends on
 * one connection staying open, so a pool closing idle connections, PgBouncer or a restart
 * of either side cannot take it away unnoticed.
 *
 * - Granted by one statement when the event has no claim or its claim expired (released
 *   claims expire at their release); each grant takes a new, larger token.
 * - Kept alive by its holder (claim-hold.ts) and by every page write; a holder that died
 *   stops renewing, so its claim is free again within one lease.
 * - Fencing (Kleppmann): every write of the sync checks the token inside its own statement
 *   or transaction (fenceClaim), so a holder paused past its lease and taken over writes
 *   nothing more, whatever it believes.
 * - Carries the resume checkpoint: each page's statement records the cursor of the next page.
 *
 * Every time is the database's clock_timestamp(): replica clocks may be minutes apart.
 */

/** Who takes claims, and for how long. */
export interface ClaimSettings {
  /** SYNC_CLAIM_LEASE_SECONDS: a claim not renewed for this long is free. */
  leaseSeconds: number;
  /** Shown to operators as the holder: host name and process id by default. */
  holder?: string;
  /** Milliseconds between renewals; a third of the lease by default (tests stop it to simulate a paused process). */
  renewEveryMs?: number;
}

/** Where a previous attempt stopped: the next page's cursor, in the list of one Luma event. */
export interface Checkpoint {
  nextCursor: string;
  pagesDone: number;
  externalEventId: string;
}

/** A granted claim: the event, its fencing token, and the checkpoint it was granted with. */
export interface Claim {
  eventUid: string;
  /** The fencing token, as text (a BIGINT). */
  token: string;
  leaseSeconds: number;
  holder: string;
  checkpoint: Checkpoint | null;
}

/** The page a write leaves the list at, written with the page (null cursor: the list ended). */
export interface CheckpointWrite {
  nextCursor: string | null;
  pagesDone: number;
  externalEventId: string;
}

/** A sync of this event is already running (another replica, a CLI run, a redelivery). */
export class EventSyncRunningError extends Error {
  /** Retryable, and not a failure: the message comes back once the other sync is done. */
  readonly kind = 'event_sync_running';
  readonly eventUid: string;
  readonly holder: string | undefined;
  readonly expiresAt: Date | undefined;
  /**
   * How long the holder's claim had left when this sync was refused, by the database's
   * clock (a replica's own clock may be off by minutes): the earliest a retry can succeed
   * unless the holder renews. Undefined when the claim row was gone by then (free again).
   */
  readonly remainingLeaseMs: number | undefined;

  constructor(eventUid: string, holder?: string, expiresAt?: Date, remainingLeaseMs?: number) {
    const who = holder ? ` by ${holder}` : '';
    const until = expiresAt ? ` until ${expiresAt.toISOString()} unless renewed` : '';
    super(`Event ${eventUid} is already being synced${who} (claimed${until}); try again later`);
    this.name = 'EventSyncRunningError';
    this.eventUid = eventUid;
    this.holder = holder;
    this.expiresAt = expiresAt;
    this.remainingLeaseMs = remainingLeaseMs;
  }
}

/** This sync's claim expired or was taken over: it wrote nothing after that and stopped. */
export class ClaimLostError extends Error {
  /** Retryable: the message comes back, and the next attempt resumes from the checkpoint. */
  readonly kind = 'claim_lost';
  readonly eventUid: string;

  constructor(claim: Pick<Claim, 'eventUid' | 'token'>, why: string) {
    super(
      `claim lost: the claim on event ${claim.eventUid} (token ${claim.token}) ${why}; this sync wrote nothing more`,
    );
    this.name = 'ClaimLostError';
    this.eventUid = claim.eventUid;
  }
}

/** Host name and process id: enough for an operator to find the holder. */
export function defaultHolder(): string {
  return `${hostname()}:${process.pid}`;
}

const lease = (seconds: number) => sql`(${seconds}::int * interval '1 second')`;

/**
 * Claims the event, or throws EventSyncRunningError naming the current holder. One
 * statement: the row is inserted, or taken over only if its claim has expired; a
 * concurrent claimer waits on the row and then sees the winner's claim as unexpired.
 */
export async function acquireClaim(db: Db, eventUid: string, settings: ClaimSettings): Promise<Claim> {
  const holder = settings.holder ?? defaultHolder();
  const rows = await db.execute<{
    token: string;
    next_cursor: string | null;
    pages_done: number;
    cursor_event_id: string | null;
  }>(sql`
    INSERT INTO luma_guest_sync.event_claim AS c (event_uid, token, holder, claimed_at, expires_at)
    VALUES (${eventUid}, nextval('luma_guest_sync.event_claim_token'), ${holder}, clock_timestamp(),
      clock_timestamp() + ${lease(settings.leaseSeconds)})
    ON CONFLICT (event_uid) DO UPDATE
      SET token = EXCLUDED.token, holder = EXCLUDED.holder, claimed_at = EXCLUDED.claimed_at,
        expires_at = EXCLUDED.expires_at
      WHERE c.expires_at <= clock_timestamp()
    RETURNING c.token::text AS token, c.next_cursor, c.pages_done, c.cursor_event_id`);
  const row = rows[0];
  if (!row) {
    const [held] = await db.execute<{ holder: string; expires_ms: number; remaining_ms: number }>(sql`
      SELECT holder, (extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms,
        (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::float8 AS remaining_ms
      FROM luma_guest_sync.event_claim WHERE event_uid = ${eventUid}`);
    throw new EventSyncRunningError(
      eventUid,
      held?.holder,
      held ? new Date(Number(held.expires_ms)) : undefined,
      held ? Math.max(0, Number(held.remaining_ms)) : undefined,
    );
  }
  const checkpoint =
    row.next_cursor !== null && row.cursor_event_id !== null
      ? { nextCursor: row.next_cursor, pagesDone: row.pages_done, externalEventId: row.cursor_event_id }
      : null;
  return { eventUid, token: row.token, leaseSeconds: settings.leaseSeconds, holder, checkpoint };
}

/**
 * The fencing UPDATE: extends the lease (and writes `checkpoint` if given) only while the
 * claim is still this token's and unexpired — and, for a statement whose first page is
 * past page 1, only while the claim's checkpoint is the page before it — returning one row
 * then and none otherwise. `firstPage` is the first of the pages a statement writes with
 * `checkpoint` (its last page's); the checkpoint's own page when absent.
 * Under READ COMMITTED it waits for a concurrent writer of the row and re-checks the row's
 * latest version, and it keeps the row locked until its transaction ends: a takeover
 * cannot slip between it and the writes that follow it in the same statement or transaction.
 */
export function fenceUpdate(claim: Claim, checkpoint?: CheckpointWrite, firstPage = checkpoint?.pagesDone ?? 0): SQL {
  const record = checkpoint
    ? sql`, next_cursor = ${checkpoint.nextCursor}, pages_done = ${checkpoint.pagesDone}::int,
        cursor_event_id = ${checkpoint.externalEventId}, checkpoint_at = clock_timestamp()`
    : sql``;
  // Page N is written only over page N - 1's checkpoint: a sync sends page N's statement
  // before page N - 1's is answered (page-connection.ts), and a failed page must stop it.
  // Page 1 starts a read of the list, over whatever an earlier read left.
  const inOrder = checkpoint && firstPage > 1 ? sql` AND pages_done = ${firstPage - 1}::int` : sql``;
  return sql`UPDATE luma_guest_sync.event_claim
    SET expires_at = clock_timestamp() + ${lease(claim.leaseSeconds)}${record}
    WHERE event_uid = ${claim.eventUid} AND token = ${claim.token}::bigint AND expires_at > clock_timestamp()${inOrder}
    RETURNING 1 AS held`;
}

/** Runs the fencing UPDATE as the first statement of a transaction; throws ClaimLostError when fenced. */
export async function fenceClaim(tx: Db, claim: Claim): Promise<void> {
  const rows = await tx.execute(fenceUpdate(claim));
  if (rows.length === 0) throw new ClaimLostError(claim, 'expired or was taken over before the sync could finish');
}

/**
 * Extends the lease of a claim this transaction has fenced (fenceClaim), whatever its expiry
 * says by now: the fence locked the claim's row, so nobody can have taken the claim since,
 * however long the transaction ran. Its last statement, so that a transaction longer than
 * the lease (a large stale removal) leaves the claim held for what follows it.
 */
export async function extendFencedClaim(tx: Db, claim: Claim): Promise<void> {
  await tx.execute(sql`UPDATE luma_guest_sync.event_claim SET expires_at = clock_timestamp() + ${lease(claim.leaseSeconds)}
    WHERE event_uid = ${claim.eventUid} AND token = ${claim.token}::bigint`);
}

/** Extends the lease; false when the claim is no longer this token's or already expired. */
export async function renewClaim(db: Db, claim: Claim): Promise<boolean> {
  const rows = await db.execute(fenceUpdate(claim));
  return rows.length > 0;
}

/**
 * Frees the claim now (it expires at this instant), if it is still this token's. With
 * `clearCheckpoint` (a completed sync) the next sync reads the whole list again; without
 * it (a failed, aborted or deferred one) the next attempt resumes where this one stopped.
 * Returns false when there was nothing of ours to release.
 */
export async function releaseClaim(db: Db, claim: Claim, options: { clearCheckpoint: boolean }): Promise<boolean> {
  const clear = options.clearCheckpoint
    ? sql`, next_cursor = NULL, pages_done = 0, cursor_event_id = NULL, checkpoint_at = clock_timestamp()`
    : sql``;
  const rows = await db.execute(sql`
    UPDATE luma_guest_sync.event_claim SET expires_at = clock_timestamp()${clear}
    WHERE event_uid = ${claim.eventUid} AND token = ${claim.token}::bigint AND expires_at > clock_timestamp()
    RETURNING 1 AS released`);
  return rows.length > 0;
}
