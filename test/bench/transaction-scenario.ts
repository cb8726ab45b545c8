import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import type { TransactionSql } from 'postgres';
import { createDatabase, type Database, type Db } from '../../src/db/client.ts';
import * as schema from '../../src/db/schema.ts';
import { transactionHandle, withTransaction } from '../../src/db/transaction.ts';
import { type Figure, figure, median, time } from './harness.ts';
import { startRemoteDatabaseUrl } from './latency-proxy.ts';
import { addedRoundTripMs } from './reference-scenario.ts';

export interface TransactionOptions {
  db: Database & { url: string };
  runs: number;
  quick: boolean;
}

/** Drizzle's own way, which withTransaction replaced: BEGIN, then SET TRANSACTION, each awaited. */
const drizzleIsolationLevel = (db: Db, run: (tx: Db) => Promise<unknown>) =>
  db.transaction((tx) => run(tx as unknown as Db), { isolationLevel: 'read committed' });

type Way = (db: Db, run: (tx: Db) => Promise<unknown>) => Promise<unknown>;

const reported = { text: 'reported', ok: () => true };

/**
 * Scenario 14: what opening a read-committed transaction costs (src/db/transaction.ts). A sync
 * runs two or more (the finish, the push refresh), a push refresh one.
 * - the objects withTransaction makes per transaction (Drizzle's session and transaction over
 *   the reserved connection, as Drizzle's db.transaction makes), in µs, beside a whole
 *   drizzle() instance with the schema, the obvious alternative;
 * - a transaction with one statement in its body, on a one-connection pool, withTransaction
 *   (the isolation level in the BEGIN) against Drizzle's isolationLevel option (BEGIN, then
 *   SET TRANSACTION), alternated, on the loopback database and through a proxy adding 1 ms
 *   per round trip (a production database is 0.5–2 ms away): ms per transaction, statements
 *   per transaction, and the ratio of the two ways.
 */
export async function transactions({ db, runs, quick }: TransactionOptions): Promise<Figure[]> {
  const figures: Figure[] = [
    figure(
      '14. transactions',
      'objects withTransaction makes per transaction (session + transaction)',
      'µs',
      constructionMicros(() => transactionHandle(db.db, db.sql as unknown as TransactionSql)),
      reported,
    ),
    figure(
      '14. transactions',
      'a drizzle() instance with the schema, for comparison',
      'µs',
      constructionMicros(() => drizzle(db.sql, { schema })),
      reported,
    ),
  ];
  for (const rttMs of [0, 1]) {
    const remote = rttMs > 0 ? await startRemoteDatabaseUrl(db.url, rttMs) : undefined;
    const label = `14. transactions, ${rttMs === 0 ? 'loopback database' : `database ${rttMs} ms away`}`;
    const count = (quick ? 100 : 300) / (rttMs === 0 ? 1 : 4);
    try {
      if (remote)
        figures.push(
          figure(
            label,
            'round trip the proxy adds (SELECT 1, measured)',
            'ms',
            [await addedRoundTripMs(db.url, remote.url)],
            reported,
          ),
        );
      const ours: Array<{ ms: number; statements: number }> = [];
      const theirs: Array<{ ms: number; statements: number }> = [];
      for (let i = 0; i < runs; i++) {
        theirs.push(await perTransaction(remote?.url ?? db.url, drizzleIsolationLevel, count));
        ours.push(await perTransaction(remote?.url ?? db.url, withTransaction, count));
      }
      const ratio = ours.map((o, i) => o.ms / theirs[i]!.ms);
      figures.push(
        figure(label, "Drizzle's isolationLevel: per transaction", 'ms', ms(theirs), reported),
        figure(label, 'withTransaction: per transaction', 'ms', ms(ours), reported),
        figure(
          label,
          'saved per transaction',
          'µs',
          ms(theirs).map((t, i) => (t - ms(ours)[i]!) * 1000),
          reported,
        ),
        figure(label, 'withTransaction / isolationLevel', 'ratio', ratio, { text: '< 1', ok: (m) => m < 1 }),
        figure(label, 'statements per transaction, withTransaction', 'count', statements(ours), {
          text: '3 (BEGIN, body, COMMIT)',
          ok: (m) => m === 3,
        }),
        figure(label, "statements per transaction, Drizzle's isolationLevel", 'count', statements(theirs), reported),
      );
    } finally {
      await remote?.stop();
    }
  }
  return figures;
}

const ms = (sides: Array<{ ms: number }>) => sides.map((s) => s.ms);
const statements = (sides: Array<{ statements: number }>) => sides.map((s) => s.statements);

/** Median µs of building one object, over batches of 10,000 after a warm-up. */
function constructionMicros(build: () => unknown): number[] {
  const batches: number[] = [];
  for (let batch = 0; batch < 6; batch++) {
    const started = performance.now();
    for (let i = 0; i < 10_000; i++) build();
    batches.push(((performance.now() - started) * 1000) / 10_000);
  }
  return batches.slice(1);
}

/** `count` transactions one after another, each one statement in its body; ms and statements per transaction. */
async function perTransaction(url: string, way: Way, count: number): Promise<{ ms: number; statements: number }> {
  let sent = 0;
  const pool = createDatabase({ url, poolMax: 1, onQuery: () => sent++ });
  try {
    await way(pool.db, (tx) => tx.execute(sql`SELECT 1`)); // connected and warm
    sent = 0;
    const times: number[] = [];
    for (let i = 0; i < count; i++) times.push((await time(() => way(pool.db, (tx) => tx.execute(sql`SELECT 1`)))).ms);
    return { ms: median(times), statements: sent / count };
  } finally {
    await pool.close();
  }
}
