/**
 * The backlog of sync attempts whose history row could not be written while the database
 * was away (src/history/backlog.ts), against a scripted writer: the database's answers
 * are an input here, so every case is deterministic. The same against a real PostgreSQL
 * is in sync-history.test.ts, and through a real worker process in
 * test/faults/pg-outage.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it, mock, type TestContext } from 'node:test';
import { createHistoryBacklog, type HistoryLossReason, waitingCanCure } from '../../src/history/backlog.ts';
import type { SyncAttempt } from '../../src/history/record-attempt.ts';

function attempt(eventUid: string): SyncAttempt {
  const at = new Date('2026-12-05T12:00:00Z');
  return { eventUid, trigger: 'schedule', startedAt: at, finishedAt: at, outcome: 'failure', errorKind: 'database' };
}

const away = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
const restarting = Object.assign(new Error('the database system is starting up'), { code: '57P03' });
const noTable = Object.assign(new Error('relation "sync_history" does not exist'), { code: '42P01' });

/** A writer whose database is away until `up()`; it records what it wrote. */
function scriptedDatabase() {
  let isUp = false;
  let hang: 'no' | 'until withdrawn' | 'for good' = 'no';
  const written: string[] = [];
  const tries: string[] = [];
  return {
    written,
    tries,
    up: () => {
      isUp = true;
    },
    /** Writes wait for a connection: until withdrawn, or (a statement already sent) for good. */
    hangWrites: (how: 'until withdrawn' | 'for good') => {
      hang = how;
    },
    write: async (a: SyncAttempt, signal: AbortSignal) => {
      tries.push(a.eventUid);
      if (hang === 'for good') return new Promise<void>(() => {});
      if (hang === 'until withdrawn') {
        return new Promise<void>((_, reject) =>
          signal.addEventListener('abort', () => reject(Object.assign(new Error('canceled'), { code: '57014' }))),
        );
      }
      if (!isUp) throw tries.length % 2 ? away : restarting;
      written.push(a.eventUid);
    },
  };
}

function recordingLog() {
  const lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }> = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => void lines.push({ level, msg, obj });
  return { lines, log: { info: at('info'), warn: at('warn') } as never };
}

async function until(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Turns on mocked timers and Date for one test: with `mockedClock` below, the backlog's
 * flush then runs on them alone, so its time is exact whatever the machine does.
 */
function useMockedClock(t: TestContext): void {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  t.after(() => mock.timers.reset());
}

const mockedClock = {
  now: () => Date.now(),
  sleep: (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Moves the mocked clock on a millisecond at a time (letting the promise callbacks of
 * whatever fired run in between) until `work` settles; says after how many.
 */
async function settleOnMockedClock<T>(work: Promise<T>, limitMs = 60_000): Promise<{ value: T; ms: number }> {
  let settled = false;
  const result = work.finally(() => {
    settled = true;
  });
  const started = Date.now();
  await new Promise((resolve) => setImmediate(resolve));
  while (!settled) {
    if (Date.now() - started >= limitMs) throw new Error(`not settled after ${limitMs} ms on the mocked clock`);
    mock.timers.tick(1);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { value: await result, ms: Date.now() - started };
}

function setup(options: { capacity?: number; retryEveryMs?: number; clock?: typeof mockedClock } = {}) {
  const database = scriptedDatabase();
  const { lines, log } = recordingLog();
  const lost: Array<[HistoryLossReason, number]> = [];
  const sizes: number[] = [];
  const backlog = createHistoryBacklog({
    write: database.write,
    log,
    capacity: options.capacity,
    retryEveryMs: options.retryEveryMs ?? 10,
    flushFirstDelayMs: 2,
    onLost: (reason, count) => lost.push([reason, count]),
    onSize: (size) => sizes.push(size),
    ...options.clock,
  });
  const lostLines = () => lines.filter((l) => l.msg === 'could not record the sync attempt');
  return { database, lines, lost, sizes, backlog, lostLines };
}

describe('history backlog', () => {
  it('writes an attempt kept during an outage once the database is back, once, oldest first', async () => {
    const { database, backlog, sizes, lost, lostLines } = setup();
    backlog.keep(attempt('evt-1'), away);
    backlog.keep(attempt('evt-2'), restarting);
    assert.equal(backlog.size(), 2);
    await until('a few failed retries', () => database.tries.length >= 4);
    assert.deepEqual(database.written, []);
    database.up();
    await until('the backlog written', () => backlog.size() === 0);
    assert.deepEqual(database.written, ['evt-1', 'evt-2'], 'each once, in the order they ended');
    assert.equal(sizes.at(-1), 0, 'the gauge ends at 0');
    assert.deepEqual(lost, []);
    assert.deepEqual(lostLines(), []);
    const report = await backlog.flush(1_000);
    assert.deepEqual(report, { written: 0, lost: 0, unanswered: 0 });
  });

  it('during an outage tries only every retryEveryMs, and at once when another write shows the database back', async () => {
    // postgres.js delays its pool's next connection attempt longer after every failed one
    // (up to 20 s): quick retries through an outage would slow every sync after it.
    const { database, backlog } = setup({ retryEveryMs: 60_000 });
    backlog.keep(attempt('evt-1'), away);
    backlog.keep(attempt('evt-2'), away);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(database.tries, [], 'no attempt before its period');
    backlog.databaseAnswered();
    await until('a try', () => database.tries.length >= 1);
    assert.deepEqual(database.tries, ['evt-1'], 'one try; the database was still away, so no second');
    database.up();
    backlog.databaseAnswered();
    await until('the backlog written', () => backlog.size() === 0);
    assert.deepEqual(database.written, ['evt-1', 'evt-2']);
    backlog.databaseAnswered();
    assert.deepEqual(await backlog.flush(100), { written: 0, lost: 0, unanswered: 0 });
  });

  it('does not keep what waiting cannot cure, and counts it lost at once', () => {
    const { database, backlog, lost, lostLines } = setup();
    backlog.keep(attempt('evt-x'), noTable);
    backlog.keep(attempt('evt-y'), new TypeError('a bug of ours'));
    assert.equal(backlog.size(), 0);
    assert.deepEqual(lost, [
      ['rejected', 1],
      ['rejected', 1],
    ]);
    assert.deepEqual(
      lostLines().map((l) => [l.obj.eventUid, l.obj.lossReason]),
      [
        ['evt-x', 'rejected'],
        ['evt-y', 'rejected'],
      ],
    );
    assert.deepEqual(database.tries, [], 'never retried');
  });

  it('is bounded: an attempt beyond its capacity is lost at once, and says so', async () => {
    const { backlog, lost, lostLines } = setup({ capacity: 2 });
    for (const uid of ['evt-1', 'evt-2', 'evt-3']) backlog.keep(attempt(uid), away);
    assert.equal(backlog.size(), 2);
    assert.deepEqual(lost, [['backlog_full', 1]]);
    assert.deepEqual(
      lostLines().map((l) => l.obj.eventUid),
      ['evt-3'],
    );
    await backlog.flush(0);
  });

  it('at shutdown writes what it can within its time when the database comes back meanwhile', async () => {
    const { database, backlog, lines, lost } = setup();
    for (const uid of ['evt-1', 'evt-2', 'evt-3']) backlog.keep(attempt(uid), away);
    const flushing = backlog.flush(5_000);
    await until('the flush retrying', () => database.tries.length >= 6);
    database.up();
    const report = await flushing;
    assert.deepEqual(report, { written: 3, lost: 0, unanswered: 0 });
    assert.deepEqual(database.written, ['evt-1', 'evt-2', 'evt-3']);
    assert.deepEqual(lost, []);
    assert.ok(lines.some((l) => l.msg === 'sync history backlog written before exit' && l.obj.written === 3));
  });

  it('at shutdown gives up when its time is over, counting and logging the exact number lost', async (t) => {
    useMockedClock(t);
    const { database, backlog, lines, lost, lostLines, sizes } = setup({ clock: mockedClock });
    for (const uid of ['evt-1', 'evt-2', 'evt-3']) backlog.keep(attempt(uid), away);
    const { value: report, ms } = await settleOnMockedClock(backlog.flush(600));
    assert.deepEqual(report, { written: 0, lost: 3, unanswered: 0 });
    // Tries at 0, 2, 6, 14, 30, 62, 126 and 254 ms (the wait doubles from 2 ms), the last
    // wait cut short at 350 ms: the budget less the 250 ms kept for a withdrawn write,
    // which no write in flight needs here.
    assert.equal(database.tries.length, 8, 'it kept trying within its time');
    assert.equal(ms, 350, 'it ends when its time for writing is over');
    assert.deepEqual(lost, [['shutdown', 3]]);
    assert.deepEqual(
      lostLines().map((l) => [l.obj.eventUid, l.obj.lossReason]),
      [
        ['evt-1', 'shutdown'],
        ['evt-2', 'shutdown'],
        ['evt-3', 'shutdown'],
      ],
    );
    const summary = lines.find((l) => l.msg === 'sync attempts lost: the database did not come back before exit');
    assert.equal(summary?.obj.lost, 3);
    assert.equal(sizes.at(-1), 0);
    // An attempt that ends after the flush (a sync still unwinding) is lost, not kept.
    backlog.keep(attempt('evt-late'), away);
    assert.equal(backlog.size(), 0);
    assert.deepEqual(lost.at(-1), ['shutdown', 1]);
    database.up();
    mock.timers.tick(60_000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(database.written, [], 'no retry runs after the flush');
  });

  it('at shutdown withdraws a write still waiting for a connection, and counts it lost like the rest', async () => {
    // postgres.js holds a statement while it reconnects with a growing back-off; the
    // database close would wait for it past the exit deadline, and its fate be unknown.
    const { database, backlog, lost, lostLines } = setup();
    backlog.keep(attempt('evt-1'), away);
    backlog.keep(attempt('evt-2'), away);
    database.hangWrites('until withdrawn');
    const report = await backlog.flush(400);
    assert.deepEqual(report, { written: 0, lost: 2, unanswered: 0 });
    assert.deepEqual(lost, [['shutdown', 2]]);
    assert.equal(lostLines().length, 2);
  });

  it('at shutdown does not wait past its time for a statement sent and never answered', async (t) => {
    useMockedClock(t);
    const { database, backlog, lost } = setup({ clock: mockedClock });
    backlog.keep(attempt('evt-1'), away);
    backlog.keep(attempt('evt-2'), away);
    database.hangWrites('for good');
    const { value: report, ms } = await settleOnMockedClock(backlog.flush(400));
    assert.deepEqual(report, { written: 0, lost: 2, unanswered: 1 });
    // 150 ms for writing, then the 250 ms a withdrawn write is given: its whole budget, not more.
    assert.equal(ms, 400);
    assert.deepEqual(lost, [
      ['shutdown', 1],
      ['shutdown', 1],
    ]);
  });

  it('tells the failures waiting can cure from those it cannot', () => {
    for (const code of [
      'ECONNREFUSED',
      'ECONNRESET',
      'CONNECT_TIMEOUT',
      'CONNECTION_CLOSED',
      '57P01',
      '57P03',
      '08006',
      '08P01',
      '53300',
      // A read-only server (a standby, a failover under way): the row goes in once it takes writes.
      '25006',
    ]) {
      assert.equal(waitingCanCure({ code }), true, code);
    }
    for (const code of ['42P01', '42501', '23505', '22P02', '0A000', 'CONNECTION_ENDED']) {
      assert.equal(waitingCanCure({ code }), false, code);
    }
    assert.equal(waitingCanCure(new Error('no code')), false);
    assert.equal(waitingCanCure(undefined), false);
  });
});
