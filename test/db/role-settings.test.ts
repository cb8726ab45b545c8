/**
 * Settings a careful DBA puts on the worker's role (`ALTER ROLE <worker> SET …`), each
 * shrunk so that it bites during a real sync (three pages, stale removal, the post-sync
 * push refresh) on a hardened directory database: what happens to the sync, its claim and
 * checkpoint, the SQS message, the log line and the history; and that the next attempt,
 * once the obstacle is gone, completes with nothing lost or duplicated.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createDatabase, type Database, type Pooler } from '../../src/db/client.ts';
import { runMigrations } from '../../src/db/migrate.ts';
import { checkWritable } from '../../src/db/read-only.ts';
import { checkSchema } from '../../src/db/schema-check.ts';
import { createReadiness } from '../../src/http/readiness.ts';
import { startPgBouncer } from '../../src/local/pgbouncer.ts';
import { until } from '../support/faults.ts';
import { createHardenedDirectory } from '../support/hardened-database.ts';
import { seedLimitScenario } from '../support/limit-scenario.ts';
import { blockedSession, type Consumed, consumeAs, holdLocks } from '../support/role-settings.ts';
import { guestsOf } from '../support/seed.ts';
import { notification, setPushConfigs } from '../support/seed-push.ts';
import { useSimulatedLuma } from '../support/sync-harness.ts';

const directory = await createHardenedDirectory(runMigrations);
const app = directory.app.database.db;
const admin = directory.admin.sql;
const role = directory.worker.role;
const luma = useSimulatedLuma();
await setPushConfigs(app, { isActive: true, enabled: true, minAttendeesPerEvent: 1, upcomingWindowDays: 30 });

/**
 * The worker's role carries `settings` (values as SQL: quoted, or a list) for the duration
 * of `run`, on connections opened for it. With `pooler` 'transaction' the worker goes
 * through a PgBouncer of its own in transaction mode that logs in as the worker's role,
 * started after the settings, so its server sessions carry them as a deployed one's
 * would once they reconnect (docs/security.md); the worker sends no startup setting there.
 */
async function asWorkerWith(
  settings: Record<string, string>,
  run: (worker: Database) => Promise<void>,
  pooler: Pooler = 'none',
) {
  for (const [name, value] of Object.entries(settings)) {
    await admin.unsafe(`ALTER ROLE "${role}" SET ${name} = ${value}`);
  }
  const bouncer = pooler === 'transaction' ? await startPgBouncer(directory.worker.url) : undefined;
  const worker = createDatabase({ url: bouncer?.url ?? directory.worker.url, poolMax: 3, pooler });
  try {
    await run(worker);
  } finally {
    await worker.close();
    await bouncer?.stop();
    await admin.unsafe(`ALTER ROLE "${role}" RESET ALL`);
  }
}
after(() => admin.unsafe(`ALTER ROLE "${role}" RESET ALL`).catch(() => {}));

/** An event of five listed members (three pages of two), one stale synced row, one sent push. */
const scenario = () => seedLimitScenario(app, luma, { listed: 5, withTeam: true });
type Scenario = Awaited<ReturnType<typeof scenario>>;

/**
 * Before page 2 is written, "the hold" renews the claim from another session: it holds the
 * claim's row while page 2's statement (its snapshot taken) waits on it, then commits a new
 * version of the row. Page 2 is read ahead while page 1's statement runs, so the renewal
 * begins once page 1 is checkpointed. Returns whether it ran.
 */
/**
 * A finish hook: the directory app renames the event, holding its row until the finish's
 * statement waits on it, then commits, so the finish meets a concurrent update.
 */
function renameDuringFinish(s: Scenario): () => Promise<void> {
  return async () => {
    const edit = await holdLocks(directory.app.url, [
      `UPDATE "PLEvent" SET name = 'Renamed' WHERE uid = '${s.event.uid}'`,
    ]);
    void blockedSession(admin, role).then(() => edit.release(true));
  };
}

function renewBeforePage2(s: Scenario): () => boolean {
  let renewal: Awaited<ReturnType<typeof holdLocks>> | undefined;
  let started = false;
  luma.serve({
    events: { [s.message.externalEventId]: s.list },
    fault: async (_request, pageNo) => {
      if (pageNo !== 2 || started) return undefined;
      started = true;
      await until('page 1 checkpointed', async () => (await claimOf(s.event.uid))?.pages_done === 1);
      renewal = await holdLocks(directory.admin.url, [
        `UPDATE luma_guest_sync.event_claim SET expires_at = clock_timestamp() + interval '60 seconds'
         WHERE event_uid = '${s.event.uid}'`,
      ]);
      void blockedSession(admin, role).then(() => renewal?.release(true));
      return undefined;
    },
  });
  return () => renewal !== undefined;
}

async function claimOf(eventUid: string) {
  const [row] = await admin<{ token: string; next_cursor: string | null; pages_done: number; free: boolean }[]>`
    SELECT token::text, next_cursor, pages_done, expires_at <= clock_timestamp() AS free
    FROM luma_guest_sync.event_claim WHERE event_uid = ${eventUid}`;
  return row;
}

async function historyOf(eventUid: string) {
  return [
    ...(await admin<{ outcome: string; error_kind: string | null }[]>`
    SELECT outcome, error_kind FROM luma_guest_sync.sync_history WHERE event_uid = ${eventUid} ORDER BY id`),
  ];
}

/** The failure's log line: its kind, and the error text an operator reads. */
function failureLine(consumed: Consumed) {
  const line = consumed.lines.find((l) => l.level >= 40 && /sync/.test(l.msg) && (l.err || l.reason));
  assert.ok(line, `a log line for the failure: ${JSON.stringify(consumed.lines.map((l) => l.msg))}`);
  const err = line.err as { message?: string } | undefined;
  return { msg: line.msg, kind: line.kind, text: String(err?.message ?? line.reason) };
}

/** The whole list is synced: every member once, the stale row gone, the push refreshed. */
async function assertSynced(s: Scenario, consumed: Consumed) {
  assert.equal(consumed.error, undefined, String((consumed.error as Error)?.message));
  assert.equal(consumed.acknowledged, true);
  const rows = await guestsOf(app, s.event.uid);
  assert.deepEqual(rows.map((r) => r.memberUid).sort(), s.members.map((m) => m.uid).sort(), 'each member once');
  assert.ok(!rows.some((r) => r.id === s.stale.id), 'the stale row removed');
  assert.notDeepEqual((await notification(app, s.sent.uid)).metadata, s.sent.metadata, 'the sent push refreshed');
  const claim = await claimOf(s.event.uid);
  assert.deepEqual([claim?.free, claim?.next_cursor, claim?.pages_done], [true, null, 0], 'released, cleared');
}

/** A failed attempt changed nothing it should not have: no row twice, the stale row still there. */
async function assertIntact(s: Scenario) {
  const rows = await guestsOf(app, s.event.uid);
  const members = rows.map((r) => r.memberUid);
  assert.equal(new Set(members).size, members.length, 'no member twice');
  assert.ok(
    rows.some((r) => r.id === s.stale.id),
    'the stale row is kept until a sync completes',
  );
}

describe("statement_timeout on the worker's role", () => {
  it('cancels a page statement made slow: a retryable failure naming the setting and the page; the next attempt resumes there', async () => {
    await asWorkerWith({ statement_timeout: "'1s'" }, async (worker) => {
      const s = await scenario();
      // Page 2's first guest takes 30 s to insert: the timeout cancels the statement at 1 s.
      await admin.unsafe(`
        CREATE FUNCTION public.slow_guest() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW."externalGuestId" = '${s.list[2]!.id}' THEN PERFORM pg_sleep(30); END IF;
          RETURN NEW;
        END $$`);
      await admin.unsafe(
        `CREATE TRIGGER slow_guest BEFORE INSERT ON "PLEventGuest" FOR EACH ROW EXECUTE FUNCTION public.slow_guest()`,
      );
      let first: Consumed;
      try {
        first = await consumeAs(worker, directory.worker.url, s.message);
      } finally {
        await admin.unsafe('DROP TRIGGER slow_guest ON "PLEventGuest"; DROP FUNCTION public.slow_guest()');
      }
      assert.equal(first.acknowledged, false, 'left for redelivery');
      assert.deepEqual(
        first.failures.map((f) => [f.kind, f.permanent]),
        [['statement_timeout', false]],
      );
      const line = failureLine(first);
      assert.equal(line.kind, 'statement_timeout');
      assert.match(line.text, /statement_timeout \(1s\) .*cancelled the page statement of page 2/);
      assert.deepEqual(await historyOf(s.event.uid), [{ outcome: 'failure', error_kind: 'statement_timeout' }]);
      const claim = await claimOf(s.event.uid);
      assert.deepEqual([claim?.free, claim?.pages_done], [true, 1], 'released at once, page 1 checkpointed');
      await assertIntact(s);

      const second = await consumeAs(worker, directory.worker.url, s.message);
      await assertSynced(s, second);
      const done = second.lines.find((l) => l.msg === 'sync complete');
      assert.equal(done?.resumedAtPage, 2, 'resumed at the cancelled page');
    });
  });

  it('cancels the post-sync push refresh waiting on a locked notification: named, retryable, then completed', async () => {
    await asWorkerWith({ statement_timeout: "'1s'" }, async (worker) => {
      const s = await scenario();
      const lock = await holdLocks(directory.app.url, [
        `SELECT 1 FROM "PushNotification" WHERE uid = '${s.sent.uid}' FOR UPDATE`,
      ]);
      let first: Consumed;
      try {
        first = await consumeAs(worker, directory.worker.url, s.message);
      } finally {
        await lock.release();
      }
      assert.equal(first.acknowledged, false);
      assert.deepEqual(
        first.failures.map((f) => [f.kind, f.permanent]),
        [['statement_timeout', false]],
      );
      assert.match(failureLine(first).text, /statement_timeout \(1s\) .*cancelled the post-sync push refresh/);
      assert.deepEqual(await historyOf(s.event.uid), [{ outcome: 'failure', error_kind: 'statement_timeout' }]);
      assert.equal((await claimOf(s.event.uid))?.free, true, 'the claim released at once');

      await assertSynced(s, await consumeAs(worker, directory.worker.url, s.message));
    });
  });
});

describe("lock_timeout on the worker's role", () => {
  it('a stale row locked by the directory app during removal: contention, the message given back soon, not a failure walking to the DLQ', async () => {
    await asWorkerWith({ lock_timeout: "'200ms'" }, async (worker) => {
      const s = await scenario();
      const lock = await holdLocks(directory.app.url, [
        `SELECT 1 FROM "PLEventGuest" WHERE id = ${s.stale.id} FOR UPDATE`,
      ]);
      let first: Consumed;
      try {
        first = await consumeAs(worker, directory.worker.url, s.message);
      } finally {
        await lock.release();
      }
      assert.equal(first.acknowledged, false, 'not dropped');
      assert.deepEqual(
        first.failures.map((f) => [f.kind, f.permanent, f.acknowledged]),
        [['lock_timeout', false, false]],
      );
      assert.equal(first.visibility.length, 1, 'given back early rather than after its visibility timeout');
      assert.ok(first.visibility[0]! <= 10, `comes back within seconds: ${first.visibility}`);
      const line = failureLine(first);
      assert.equal(line.kind, 'lock_timeout');
      assert.match(line.text, /lock_timeout \(200ms\) .*stale removal/);
      assert.deepEqual(await historyOf(s.event.uid), [{ outcome: 'failure', error_kind: 'lock_timeout' }]);
      assert.equal((await claimOf(s.event.uid))?.free, true);
      await assertIntact(s);

      await assertSynced(s, await consumeAs(worker, directory.worker.url, s.message));
    });
  });

  it("the claim's row locked by another session when the sync starts: contention, given back soon, nothing written", async () => {
    await asWorkerWith({ lock_timeout: "'200ms'" }, async (worker) => {
      const s = await scenario();
      await admin`INSERT INTO luma_guest_sync.event_claim (event_uid, token, holder, claimed_at, expires_at)
        VALUES (${s.event.uid}, nextval('luma_guest_sync.event_claim_token'), 'done:1', now(), now())`;
      const before = await claimOf(s.event.uid);
      const lock = await holdLocks(directory.admin.url, [
        `SELECT 1 FROM luma_guest_sync.event_claim WHERE event_uid = '${s.event.uid}' FOR UPDATE`,
      ]);
      let first: Consumed;
      try {
        first = await consumeAs(worker, directory.worker.url, s.message, { receiveCount: 2 });
      } finally {
        await lock.release();
      }
      assert.deepEqual(
        first.failures.map((f) => [f.kind, f.permanent, f.acknowledged]),
        [['lock_timeout', false, false]],
      );
      assert.match(failureLine(first).text, /lock_timeout \(200ms\) .*taking the claim/);
      assert.equal(first.visibility.length, 1, 'given back with a delay growing with its receives');
      assert.equal((await claimOf(s.event.uid))?.token, before?.token, 'the claim untouched');
      assert.equal((await guestsOf(app, s.event.uid)).length, 1, 'nothing written');

      await assertSynced(s, await consumeAs(worker, directory.worker.url, s.message));
    });
  });
});

describe("default_transaction_isolation on the worker's role", () => {
  for (const isolation of ['repeatable read', 'serializable']) {
    it(`${isolation}: a claim renewal committed while a page statement waits on it does not fail the page`, async () => {
      await asWorkerWith({ default_transaction_isolation: `'${isolation}'` }, async (worker) => {
        const s = await scenario();
        const renewed = renewBeforePage2(s);
        await assertSynced(s, await consumeAs(worker, directory.worker.url, s.message));
        assert.ok(renewed(), 'the renewal ran');
      });
    });

    it(`${isolation}: the directory app renaming the event during the finish does not fail the sync`, async () => {
      await asWorkerWith({ default_transaction_isolation: `'${isolation}'` }, async (worker) => {
        const s = await scenario();
        const consumed = await consumeAs(worker, directory.worker.url, s.message, {
          extra: {
            hooks: { beforeFinish: renameDuringFinish(s) },
          },
        });
        await assertSynced(s, consumed);
      });
    });
  }
});

describe('default_transaction_isolation behind a transaction-mode PgBouncer', () => {
  // Through PgBouncer the worker sends no startup setting: the role's isolation stands.
  it('the schema check refuses it, naming the setting; on a direct connection it passes', async () => {
    await asWorkerWith(
      { default_transaction_isolation: "'repeatable read'" },
      async (worker) => {
        const check = await checkSchema(worker.sql);
        assert.equal(check.ok, false);
        assert.match(check.message, /repeatable read \(default_transaction_isolation\).*read committed/);
        assert.doesNotMatch(check.message, /db:migrate/);
      },
      'transaction',
    );
    await asWorkerWith({ default_transaction_isolation: "'serializable'" }, async (worker) => {
      assert.deepEqual((await checkSchema(worker.sql)).missing, []);
    });
  });

  // The syncs below use the process's own Luma budget: the shared one fails too under
  // repeatable read (its reserve meets the previous request's end), which is why the
  // schema check refuses the setting; these prove what still holds if it is changed later.
  for (const level of ['repeatable read', 'serializable']) {
    it(`${level} through PgBouncer: the finish's transactions still run read committed, so an edit of the event does not fail the sync`, async () => {
      await asWorkerWith(
        { default_transaction_isolation: `'${level}'` },
        async (worker) => {
          const [shown] = await worker.sql`SHOW transaction_isolation`;
          assert.equal(shown?.transaction_isolation, level, "the role's setting reaches the pooled sessions");
          const s = await scenario();
          const consumed = await consumeAs(worker, directory.worker.url, s.message, {
            budget: 'process',
            extra: {
              hooks: { beforeFinish: renameDuringFinish(s) },
            },
          });
          await assertSynced(s, consumed);
        },
        'transaction',
      );
    });
  }

  it('repeatable read: a page statement that meets a renewal fails as contention, comes back soon and resumes', async () => {
    await asWorkerWith(
      { default_transaction_isolation: "'repeatable read'" },
      async (worker) => {
        const s = await scenario();
        renewBeforePage2(s);
        const first = await consumeAs(worker, directory.worker.url, s.message, { budget: 'process' });
        assert.deepEqual(
          first.failures.map((f) => [f.kind, f.permanent, f.acknowledged]),
          [['serialization_failure', false, false]],
        );
        assert.ok(first.visibility.length === 1 && first.visibility[0]! <= 10, `back soon: ${first.visibility}`);
        assert.match(failureLine(first).text, /page statement of page 2 .*repeatable read.*read committed/);
        assert.deepEqual([(await claimOf(s.event.uid))?.pages_done], [1], 'page 1 checkpointed');
        await assertIntact(s);

        const second = await consumeAs(worker, directory.worker.url, s.message, { budget: 'process' });
        await assertSynced(s, second);
        assert.equal(second.lines.find((l) => l.msg === 'sync complete')?.resumedAtPage, 2);
      },
      'transaction',
    );
  });
});

describe("search_path on the worker's role", () => {
  it('without schema public: the schema check says so, naming the setting, instead of asking for a migration', async () => {
    await asWorkerWith({ search_path: '"$user"' }, async (worker) => {
      const check = await checkSchema(worker.sql);
      assert.equal(check.ok, false);
      assert.match(check.message, /search_path/);
      assert.match(check.message, /public/);
      assert.doesNotMatch(check.message, /db:migrate/);
    });
  });

  it('with public after another schema: the schema check passes and a sync completes', async () => {
    await asWorkerWith({ search_path: 'luma_guest_sync, public' }, async (worker) => {
      const check = await checkSchema(worker.sql);
      assert.deepEqual(check.missing, []);
      const s = await scenario();
      await assertSynced(s, await consumeAs(worker, directory.worker.url, s.message));
    });
  });
});

describe("idle_in_transaction_session_timeout on the worker's role", () => {
  for (const pooler of ['none', 'transaction'] as const) {
    it(`at 1 s (pooler ${pooler}): a sync completes, the worker never idles inside a transaction`, async () => {
      await asWorkerWith(
        { idle_in_transaction_session_timeout: "'1s'" },
        async (worker) => {
          // On a direct connection the worker's own bound (60 s, session-settings.ts) replaces the role's.
          const [shown] = await worker.sql`SHOW idle_in_transaction_session_timeout`;
          assert.equal(shown?.idle_in_transaction_session_timeout, pooler === 'none' ? '1min' : '1s');
          const s = await scenario();
          await assertSynced(s, await consumeAs(worker, directory.worker.url, s.message));
        },
        pooler,
      );
    });
  }
});

/**
 * Ends every session of the worker's role (the pool's connections, or PgBouncer's server
 * connections), as a failover does: the next statement opens a new session, which takes
 * the role's settings as they are now. Waits until they are gone.
 *
 * Only between statements: a statement still running then (the shared budget's end of a
 * request, sent without waiting for it, can outlive the attempt that sent it) would be
 * cut, and postgres.js 3.4.9 keeps the server's FATAL and fails the first statement of
 * the replacement connection with it (docs/driver-workarounds.md): the next attempt,
 * expected to complete, failed so in a full run on a loaded machine.
 */
async function failOver() {
  await until('no statement of the worker running', async () => {
    const [row] = await admin<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = ${role} AND state = 'active'`;
    return row!.n === 0;
  });
  await admin`SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = ${role}`;
}

/** The line of a sync left for redelivery: its kind and the error's text. */
function failedLine(consumed: Consumed) {
  const line = consumed.lines.find((l) => l.msg === 'sync failed: message left for redelivery');
  assert.ok(line, `a failure line: ${JSON.stringify(consumed.lines.map((l) => l.msg))}`);
  return { kind: line.kind, text: String((line.err as { message?: string } | undefined)?.message) };
}

/** The daemon's readiness probe on the worker's handle (no queue). */
const readinessOf = (worker: Database) =>
  createReadiness({
    sql: worker.sql,
    checkSchema,
    checkWritable,
    sqsPing: async () => {},
    isShuttingDown: () => false,
  });

describe("default_transaction_read_only on the worker's role", () => {
  for (const pooler of ['none', 'transaction'] as const) {
    it(`from the start (pooler ${pooler}): the start-up check and readiness name it, a sync fails as read_only at its claim, and completes once it is removed and the sessions renewed`, async () => {
      await asWorkerWith(
        { default_transaction_read_only: 'on' },
        async (worker) => {
          const check = await checkSchema(worker.sql);
          assert.deepEqual([check.ok, check.setting], [false, 'transaction_read_only']);
          assert.match(check.message, /read-only: default_transaction_read_only is on \(set for the worker's role\)/);
          assert.match(check.message, /ALTER ROLE <worker> RESET default_transaction_read_only/);
          assert.doesNotMatch(check.message, /db:migrate|standby/);
          const readiness = readinessOf(worker);
          const unready = await readiness();
          assert.equal(unready.ready, false);
          assert.equal(unready.checks.schema?.detail, check.message, 'the remedy, not a migration');

          const s = await scenario();
          const first = await consumeAs(worker, directory.worker.url, s.message);
          assert.equal(first.acknowledged, false, 'left for redelivery');
          assert.deepEqual(
            first.failures.map((f) => [f.kind, f.permanent, f.acknowledged]),
            [['read_only', false, false]],
          );
          assert.deepEqual(first.visibility, [], 'no contention: it waits out its visibility timeout');
          const line = failedLine(first);
          assert.equal(line.kind, 'read_only');
          assert.match(
            line.text,
            /^default_transaction_read_only \(on\) set for the worker's role made taking the claim of the event read-only; nothing of it was written/,
          );
          assert.equal(await claimOf(s.event.uid), undefined, 'no claim taken');
          await assertIntact(s);

          await admin.unsafe(`ALTER ROLE "${role}" RESET default_transaction_read_only`);
          // The sessions already open keep the setting: the next attempt fails the same way.
          const again = await consumeAs(worker, directory.worker.url, s.message);
          assert.deepEqual(
            again.failures.map((f) => f.kind),
            ['read_only'],
          );
          assert.equal(await claimOf(s.event.uid), undefined, 'refused at the claim again, on an open session');
          await failOver();
          await assertSynced(s, await consumeAs(worker, directory.worker.url, s.message));
          assert.equal((await readiness()).ready, true);
        },
        pooler,
      );
    });

    it(`switched on before the last page with the sessions renewed, as in a failover (pooler ${pooler}): page 3 fails as read_only, readiness turns unready, and the next attempt resumes at page 3 once the server is writable`, async () => {
      await asWorkerWith(
        {},
        async (worker) => {
          const readiness = readinessOf(worker);
          assert.equal((await readiness()).ready, true);
          const s = await scenario();
          let failedOver = false;
          luma.serve({
            events: { [s.message.externalEventId]: s.list },
            fault: async (_request, pageNo) => {
              // The last page: no page is read ahead of it, so its statement is the first write after the failover.
              if (pageNo !== 3 || failedOver) return undefined;
              failedOver = true;
              await until('page 2 checkpointed', async () => (await claimOf(s.event.uid))?.pages_done === 2);
              await admin.unsafe(`ALTER ROLE "${role}" SET default_transaction_read_only = on`);
              await failOver();
              return undefined;
            },
          });
          const first = await consumeAs(worker, directory.worker.url, s.message);
          assert.ok(failedOver, 'the failover ran');
          assert.equal(first.acknowledged, false);
          assert.deepEqual(
            first.failures.map((f) => [f.kind, f.permanent, f.acknowledged]),
            [['read_only', false, false]],
          );
          assert.deepEqual(first.visibility, []);
          assert.match(
            failedLine(first).text,
            /^default_transaction_read_only \(on\) set for the worker's role made the page statement of page 3 read-only; nothing of it was written/,
          );
          const held = await claimOf(s.event.uid);
          // Its release was refused too: the claim frees itself when its lease ends.
          assert.deepEqual([held?.pages_done, held?.free], [2, false], 'page 2 checkpointed, the claim still held');
          assert.ok(
            first.lines.some((l) => l.msg === 'could not release the claim: it frees itself when its lease ends'),
          );
          await assertIntact(s);
          const unready = await readiness();
          assert.equal(unready.ready, false, 'a schema found complete does not hide a read-only server');
          assert.match(unready.checks.schema?.detail ?? '', /default_transaction_read_only is on/);

          // The server is writable again; the lease runs out (moved forward here, not waited for).
          await admin.unsafe(`ALTER ROLE "${role}" RESET default_transaction_read_only`);
          await failOver();
          await admin`UPDATE luma_guest_sync.event_claim SET expires_at = clock_timestamp() WHERE event_uid = ${s.event.uid}`;
          assert.equal((await readiness()).ready, true);
          const second = await consumeAs(worker, directory.worker.url, s.message);
          await assertSynced(s, second);
          assert.equal(second.lines.find((l) => l.msg === 'sync complete')?.resumedAtPage, 3, 'resumed at page 3');
        },
        pooler,
      );
    });
  }
});
