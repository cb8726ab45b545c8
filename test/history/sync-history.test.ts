import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createDatabase } from '../../src/db/client.ts';
import { createHistoryBacklog } from '../../src/history/backlog.ts';
import { eventHistory, lastAttempts, lastSuccesses } from '../../src/history/queries.ts';
import { PRUNE_BATCH, recordSyncAttempt, withSyncHistory } from '../../src/history/record-attempt.ts';
import { createLogger } from '../../src/log.ts';
import type { SyncResult } from '../../src/sync/types.ts';
import { createTestDatabase } from '../support/db.ts';
import { blockedBy, holdInTransaction, until, within } from '../support/faults.ts';
import { captureLogger } from '../support/sqs-queue.ts';

const database = await createTestDatabase({ label: 'sync_history' });
const log = createLogger({ level: 'silent', pretty: false });
const DAY = 86_400_000;

function result(eventUid: string, pages: number): SyncResult {
  return {
    eventUid,
    providerType: 'LUMA',
    pages,
    fetched: pages * 100,
    matched: pages * 80,
    created: 12,
    skipped: 3,
    removed: 1,
    dryRun: false,
    durationMs: 5,
  };
}

/** A handle on the test database that counts the statements sent through it. */
function countingDatabase() {
  const statements: string[] = [];
  const counted = createDatabase({ url: database.url, poolMax: 1, onQuery: (q) => statements.push(q) });
  after(() => counted.close());
  return { sql: counted.sql, statements };
}

/** The event's history once it holds `count` rows (bounded wait). */
async function waitForRows(eventUid: string, count: number) {
  for (let waited = 0; waited < 5_000; waited += 20) {
    const rows = await eventHistory(database.sql, eventUid);
    if (rows.length >= count) return rows;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return eventHistory(database.sql, eventUid);
}

describe('sync history', () => {
  it('keeps an attempt the database refused while restarting and writes it once, when it answers again', async () => {
    // Found by the soak: attempts that ended during a PostgreSQL restart were missing from
    // the history. The first three inserts fail here with the SQLSTATE of a restart.
    await database.sql.unsafe(`
      CREATE SEQUENCE history_outage_seq;
      CREATE FUNCTION history_outage() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.event_uid = 'evt-outage' AND nextval('history_outage_seq') <= 3 THEN
          RAISE EXCEPTION 'the database system is starting up' USING ERRCODE = '57P03';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER history_outage BEFORE INSERT ON luma_guest_sync.sync_history
        FOR EACH ROW EXECUTE FUNCTION history_outage();`);
    const historyDeps = { sql: database.sql, retentionDays: 30 };
    const backlog = createHistoryBacklog({
      write: (a, signal) => recordSyncAttempt(historyDeps, a, signal),
      log,
      retryEveryMs: 5,
    });
    const deps = { ...historyDeps, log, backlog };
    const synced = await withSyncHistory(deps, { eventUid: 'evt-outage', trigger: 'tier' }, async () =>
      result('evt-outage', 2),
    );
    assert.equal(synced.pages, 2, "the sync's outcome stands, and it is not held meanwhile");
    const rows = await waitForRows('evt-outage', 1);
    assert.deepEqual(
      rows.map((r) => [r.outcome, r.pages]),
      [['success', 2]],
      'recorded once, on the fourth try',
    );
    assert.equal(backlog.size(), 0);
    await database.sql.unsafe('DROP TRIGGER history_outage ON luma_guest_sync.sync_history');
    assert.deepEqual(await backlog.flush(1_000), { written: 0, lost: 0, unanswered: 0 });
  });

  it('records a success with its counts and the approved guests without a directory account', async () => {
    const deps = { sql: database.sql, retentionDays: 30, log };
    await withSyncHistory(deps, { eventUid: 'evt-ok', trigger: 'webhook' }, async () => result('evt-ok', 4));
    const [row] = await eventHistory(database.sql, 'evt-ok');
    assert.ok(row);
    assert.equal(row.trigger, 'webhook');
    assert.equal(row.outcome, 'success');
    assert.equal(row.errorKind, null);
    assert.deepEqual(
      [row.pages, row.fetched, row.matched, row.created, row.removed, row.skipped, row.withoutAccount],
      [4, 400, 320, 12, 1, 3, 80],
    );
    assert.ok(row.finishedAt.getTime() >= row.startedAt.getTime());
  });

  it('records a failure with its error kind, and rethrows the error', async () => {
    const deps = { sql: database.sql, retentionDays: 30, log };
    const failure = Object.assign(new Error('Luma 502'), { kind: 'luma_http' });
    await assert.rejects(
      withSyncHistory(deps, { eventUid: 'evt-fail', trigger: 'tier' }, async () => {
        throw failure;
      }),
      (err) => err === failure,
    );
    const [row] = await eventHistory(database.sql, 'evt-fail');
    assert.equal(row?.outcome, 'failure');
    assert.equal(row?.errorKind, 'luma_http');
    assert.equal(row?.trigger, 'tier');
    assert.equal(row?.pages, null);
  });

  it('does not record a dry run, which writes nothing', async () => {
    const deps = { sql: database.sql, retentionDays: 30, log };
    await withSyncHistory(deps, { eventUid: 'evt-dry', trigger: 'manual', dryRun: true }, async () => ({
      ...result('evt-dry', 1),
      dryRun: true,
    }));
    assert.deepEqual(await eventHistory(database.sql, 'evt-dry'), []);
  });

  it('writes one statement per attempt, whatever the number of pages', async () => {
    for (const pages of [1, 500]) {
      const counted = countingDatabase();
      const deps = { sql: counted.sql, retentionDays: 30, log };
      await withSyncHistory(deps, { eventUid: `evt-pages-${pages}`, trigger: 'schedule' }, async () =>
        result(`evt-pages-${pages}`, pages),
      );
      assert.equal(counted.statements.filter((q) => q.includes('sync_history')).length, 1, `${pages} pages`);
    }
  });

  it('keeps the sync outcome when the history cannot be written', async () => {
    const broken = createDatabase({ url: database.url.replace(/\/[^/]*$/, '/no_such_database'), poolMax: 1 });
    after(() => broken.close());
    const warnings: unknown[] = [];
    const spyLog = { warn: (obj: unknown) => warnings.push(obj) } as unknown as typeof log;
    const got = await withSyncHistory(
      { sql: broken.sql, retentionDays: 30, log: spyLog },
      { eventUid: 'evt-nohist', trigger: 'schedule' },
      async () => result('evt-nohist', 2),
    );
    assert.equal(got.pages, 2);
    assert.equal(warnings.length, 1);
  });

  it('deletes rows past retention as new ones are written, a bounded batch at a time', async () => {
    const old = new Date(Date.now() - 40 * DAY);
    const recent = new Date(Date.now() - 10 * DAY);
    const attempt = (eventUid: string, at: Date) => ({
      eventUid,
      trigger: 'schedule' as const,
      startedAt: at,
      finishedAt: at,
      outcome: 'success' as const,
      result: result(eventUid, 1),
    });
    // Written with a long retention so nothing is pruned while seeding.
    for (let i = 0; i < PRUNE_BATCH + 5; i++) {
      await recordSyncAttempt({ sql: database.sql, retentionDays: 3650 }, attempt('evt-old', old));
    }
    await recordSyncAttempt({ sql: database.sql, retentionDays: 3650 }, attempt('evt-recent', recent));

    await recordSyncAttempt({ sql: database.sql, retentionDays: 30 }, attempt('evt-new', new Date()));
    assert.equal((await eventHistory(database.sql, 'evt-old', 1000)).length, 5, 'one batch pruned');
    await recordSyncAttempt({ sql: database.sql, retentionDays: 30 }, attempt('evt-new', new Date()));
    assert.equal((await eventHistory(database.sql, 'evt-old', 1000)).length, 0, 'the rest on the next write');
    assert.equal((await eventHistory(database.sql, 'evt-recent')).length, 1, 'rows within retention stay');
  });

  it('records each attempt by the database clock, so a replica whose clock is minutes off does not reorder them', async (t) => {
    const deps = { sql: database.sql, retentionDays: 30, log };
    // A replica whose clock is 3 minutes ahead fails an attempt of the event…
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() + 3 * 60_000 });
    await assert.rejects(
      withSyncHistory(deps, { eventUid: 'skew', trigger: 'webhook' }, async () => {
        throw new Error('server login has been failing, try again later (server_login_retry)');
      }),
    );
    t.mock.timers.reset();
    // …then a replica with the right clock syncs it: that is the event's last attempt.
    await withSyncHistory(deps, { eventUid: 'skew', trigger: 'tier' }, async () => result('skew', 1));

    const [last] = await lastAttempts(database.sql, { eventUids: ['skew'] });
    assert.equal(last?.outcome, 'success', 'the later success is the last attempt, not the skewed failure');
    const [clock] = await database.sql<{ dbNow: string }[]>`SELECT now()::text AS "dbNow"`;
    const dbNow = clock!.dbNow;
    for (const row of await eventHistory(database.sql, 'skew')) {
      const offMs = Math.abs(row.startedAt.getTime() - new Date(dbNow).getTime());
      assert.ok(offMs < 60_000, `${row.outcome} started ${offMs} ms from the database's now`);
      assert.ok(row.finishedAt.getTime() >= row.startedAt.getTime());
    }
  });

  it('stamps a row written late (the database was away) with when the attempt ended, by the database clock', async () => {
    const ended = performance.now() - 30_000; // it ended 30 s ago and ran for 5 s
    await recordSyncAttempt(
      { sql: database.sql, retentionDays: 30 },
      { eventUid: 'late', trigger: 'schedule', outcome: 'failure', endedAtMonotonicMs: ended, durationMs: 5_000 },
    );
    const [clock] = await database.sql<{ dbNow: string }[]>`SELECT now()::text AS "dbNow"`;
    const [row] = await eventHistory(database.sql, 'late');
    const agoS = (new Date(clock!.dbNow).getTime() - row!.finishedAt.getTime()) / 1000;
    assert.ok(agoS > 25 && agoS < 60, `ended ${agoS} s before the database's now`);
    const ranMs = row!.finishedAt.getTime() - row!.startedAt.getTime();
    assert.ok(Math.abs(ranMs - 5_000) <= 10, `ran ${ranMs} ms`);
  });

  it('answers the last attempt per event, one event’s history, and each event’s last success', async () => {
    const deps = { sql: database.sql, retentionDays: 30, log };
    let clock = Date.UTC(2031, 0, 1);
    const tick = () => {
      clock += 1000;
      return new Date(clock);
    };
    const at = { ...deps, now: tick };
    await withSyncHistory(at, { eventUid: 'q-a', trigger: 'schedule' }, async () => result('q-a', 3));
    await assert.rejects(
      withSyncHistory(at, { eventUid: 'q-a', trigger: 'webhook' }, async () => {
        throw new Error('boom');
      }),
    );
    await withSyncHistory(at, { eventUid: 'q-b', trigger: 'tier' }, async () => result('q-b', 7));

    const last = await lastAttempts(database.sql, { eventUids: ['q-a', 'q-b'] });
    assert.deepEqual(
      last.map((r) => [r.eventUid, r.trigger, r.outcome]),
      [
        ['q-b', 'tier', 'success'],
        ['q-a', 'webhook', 'failure'],
      ],
    );
    const history = await eventHistory(database.sql, 'q-a');
    assert.deepEqual(
      history.map((r) => r.outcome),
      ['failure', 'success'],
    );
    const successes = await lastSuccesses(database.sql, ['q-a', 'q-b', 'q-none']);
    assert.equal(successes.get('q-a')?.pages, 3, 'the failure after it does not hide the last success');
    assert.equal(successes.get('q-b')?.pages, 7);
    assert.equal(successes.has('q-none'), false);
  });

  it('waits for its row at most recordWaitMs: an unanswered write goes on and is written once, without the backlog', async () => {
    // What a database that stopped answering looks like from here, made deterministic: the
    // insert waits on a lock this test holds (docs/reliability.md, "A database that stops answering").
    const lock = await holdInTransaction(database.sql, (tx) => tx`LOCK TABLE luma_guest_sync.sync_history`);
    const { log: captured, lines } = captureLogger('warn');
    const kept: unknown[] = [];
    const deps = {
      sql: database.sql,
      retentionDays: 30,
      log: captured,
      recordWaitMs: 200,
      backlog: { keep: (a: unknown) => void kept.push(a), databaseAnswered: () => {} },
    };

    const synced = await within(
      'the sync to return while its row is unanswered',
      withSyncHistory(deps, { eventUid: 'evt-unanswered', trigger: 'tier' }, async () => result('evt-unanswered', 1)),
    );

    assert.equal(synced.pages, 1);
    // The sync returned after recordWaitMs whether or not the insert had reached the lock yet
    // (on a busy machine its connection may still be opening): wait for it to be there, so
    // what is asserted is that the row is still unwritten, not how fast a connection opens.
    await until('the insert to wait on the held lock', async () => (await blockedBy(database.sql, lock.pid)) === 1);
    const warned = lines.filter(
      (l) => l.msg === 'sync attempt not recorded yet: the database has not answered; the write goes on',
    );
    assert.equal(warned.length, 1);
    assert.equal(warned[0]?.eventUid, 'evt-unanswered');
    assert.equal(warned[0]?.waitMs, 200);
    await lock.release();
    const rows = await waitForRows('evt-unanswered', 1);
    assert.deepEqual(
      rows.map((r) => r.outcome),
      ['success'],
    );
    assert.deepEqual(kept, [], 'nothing kept for a second write');
  });
});
