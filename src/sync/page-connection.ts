import type { SQL } from 'drizzle-orm';
import type postgres from 'postgres';
import { type Db, executePrepared } from '../db/client.ts';
import { reserveConnection } from '../db/reserve-connection.ts';
import { isConnectionLoss } from '../errors.ts';

/**
 * Sends one sync's page statements in page order on one connection, each as soon as its
 * page is read: page N+1's statement goes out while page N's still runs, so the database
 * does not sit idle for a round trip between them (issue 22: with the database 1 ms away,
 * the round trips were 0.7 s of a 3.3 s first sync of 50,000 guests). PostgreSQL runs a
 * connection's statements in the order sent, each in its own implicit transaction
 * (postgres.js ends every statement with a Sync), and the page statement's fence
 * (claim.ts) writes page N+1 only over page N's checkpoint: a page that failed stops the
 * one behind it.
 *
 * postgres.js pipelines only statements it has prepared on the connection: the first of
 * each shape there, and every statement behind a transaction-mode pooler (unprepared, so
 * described first), waits for the answer before the next is sent.
 *
 * The connection is reserved from the pool only while statements are in flight: while a
 * sync waits for Luma it is back in the pool, whose idle timeout closes it as any other.
 * A sync of any length never holds a connection idle.
 *
 * A reservation on which a statement failed sends nothing more. One whose connection was
 * lost is never handed back, and its statements still waiting are failed here: postgres.js
 * 3.4.9 has already taken the connection back as closed, never answers the statements it
 * queued behind the one that saw the loss, and `release()` would put the dead connection
 * in the pool's idle queue, where the next statement sent on it throws from a timer and
 * ends the process (test/sync/pipelined-pages.test.ts).
 */
export interface PageConnection {
  /** Runs `statement` (prepared unless behind a transaction-mode pooler) after every one sent before it. */
  send<T>(statement: SQL): Promise<T[]>;
}

export class PageConnectionLostError extends Error {
  constructor(cause: unknown) {
    super('page statement not answered: the connection it was sent on was lost', { cause });
    this.name = 'PageConnectionLostError';
  }
}

interface Reservation {
  connection: Promise<postgres.ReservedSql>;
  inFlight: number;
  /** A statement on it failed: nothing more is sent on it. */
  failed: boolean;
  /** Rejects once its connection is lost. */
  lost: Promise<never>;
  lose(cause: unknown): void;
  isLost: boolean;
}

function reserve(db: Db): Reservation {
  let lose!: (cause: unknown) => void;
  // Never unhandled: only a send's own answer loses the connection, and every send races it.
  const lost = new Promise<never>((_, reject) => {
    lose = (cause) => reject(new PageConnectionLostError(cause));
  });
  const reservation: Reservation = {
    connection: reserveConnection(db.$client),
    inFlight: 0,
    failed: false,
    lost,
    isLost: false,
    lose(cause) {
      reservation.isLost = true;
      lose(cause);
    },
  };
  return reservation;
}

export function pageConnection(db: Db): PageConnection {
  let current: Reservation | undefined;

  // Called once per reservation, when its last statement settled: it is still `current`
  // (a new one is made only when there is none).
  const finish = (reservation: Reservation) => {
    current = undefined;
    reservation.connection.then(
      (connection) => {
        if (!reservation.isLost) connection.release();
      },
      () => {},
    );
  };

  return {
    async send<T>(statement: SQL): Promise<T[]> {
      current ??= reserve(db);
      const reservation = current;
      reservation.inFlight++;
      try {
        const connection = await reservation.connection;
        if (reservation.failed) {
          throw new Error('page statement not sent: a statement sent before it on its connection failed');
        }
        // Marked failed in the rejection's first reaction: before any later page can be sent.
        const answer = executePrepared<T>(db, statement, connection).catch((err: unknown) => {
          reservation.failed = true;
          throw err;
        });
        const settled = Promise.race([answer, reservation.lost]);
        // A terminated session fails the statement it ran with FATAL, the ones sent behind it
        // with CONNECTION_CLOSED, and leaves the ones queued behind it unanswered: they fail
        // here. Told after the race above, so this statement fails with its own error.
        answer.catch((err: unknown) => {
          if (isConnectionLoss(err)) reservation.lose(err);
        });
        return await settled;
      } finally {
        if (--reservation.inFlight === 0) finish(reservation);
      }
    },
  };
}
