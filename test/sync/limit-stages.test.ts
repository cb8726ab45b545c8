/**
 * Each stage of a sync names itself in the error a database limit ends it with
 * (database-limits.ts): an operator reading `lock_timeout … ran out: stale removal waited
 * …` learns what waited. The database carries a short lock_timeout, and another session
 * holds the lock the stage needs. (test/db/role-settings.test.ts runs the same limits as
 * settings of a hardened worker role, through the consumer.)
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createDatabase } from '../../src/db/client.ts';
import { DatabaseLimitError } from '../../src/db/database-limits.ts';
import { type SyncDeps, syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { until } from '../support/faults.ts';
import { seedLimitScenario } from '../support/limit-scenario.ts';
import { holdLocks } from '../support/role-settings.ts';
import { guestsOf } from '../support/seed.ts';
import { setPushConfigs } from '../support/seed-push.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const database = await createTestDatabase({ label: 'limit_stages' });
await database.sql.unsafe(`ALTER DATABASE "${database.name}" SET lock_timeout = '100ms'`);
// Opened after the setting, so that every session of the sync carries it.
const worker = createDatabase({ url: database.url, poolMax: 3 });
after(() => worker.close());
const app = database.db;
const luma = useSimulatedLuma();
await setPushConfigs(app, { isActive: true, enabled: true, minAttendeesPerEvent: 1, upcomingWindowDays: 30 });

/** An event of three listed members (pages of two), one stale synced row, one sent push. */
const scenario = () => seedLimitScenario(app, luma, { listed: 3 });

const deps = (extra: Partial<SyncDeps> = {}) =>
  syncDeps(worker.db, { pageSize: 2, removeStale: { enabled: true, maxShare: 1 }, ...extra });

async function checkpointedPages(eventUid: string): Promise<number | undefined> {
  const [claim] = await database.sql`SELECT pages_done FROM luma_guest_sync.event_claim WHERE event_uid = ${eventUid}`;
  return claim?.pages_done;
}

/** The sync's error: a lock_timeout naming `stage`, the setting's value and where it was set. */
async function assertStopsIn(sync: Promise<unknown>, stage: string) {
  const err = await sync.then(
    () => assert.fail(`the sync completed; expected it to stop in ${stage}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof DatabaseLimitError, String(err));
  assert.equal(err.kind, 'lock_timeout');
  assert.equal(err.stage, stage);
  assert.match(err.message, /^lock_timeout \(100ms\) set for the database ran out: /);
}

/** Holds `statements`' locks from `when` until the sync ended. */
async function withLocks<T>(statements: string[], run: (taken: () => Promise<void>) => Promise<T>): Promise<T> {
  let held: Awaited<ReturnType<typeof holdLocks>> | undefined;
  try {
    return await run(async () => {
      held ??= await holdLocks(database.url, statements);
    });
  } finally {
    await held?.release();
  }
}

describe('the stage a database limit stopped, named', () => {
  it('taking the claim of the event', async () => {
    const s = await scenario();
    await database.sql`INSERT INTO luma_guest_sync.event_claim (event_uid, token, holder, claimed_at, expires_at)
      VALUES (${s.event.uid}, nextval('luma_guest_sync.event_claim_token'), 'done:1', now(), now())`;
    await withLocks(
      [`SELECT 1 FROM luma_guest_sync.event_claim WHERE event_uid = '${s.event.uid}' FOR UPDATE`],
      (take) => take().then(() => assertStopsIn(syncEvent(deps(), s.message), 'taking the claim of the event')),
    );
  });

  it('reading the event from the directory', async () => {
    const s = await scenario();
    await withLocks(['LOCK TABLE "PLEvent" IN ACCESS EXCLUSIVE MODE'], (take) =>
      take().then(() => assertStopsIn(syncEvent(deps(), s.message), 'reading the event from the directory')),
    );
  });

  it('the page statement of page 2, with page 1 checkpointed', async () => {
    const s = await scenario();
    await withLocks(
      [`SELECT 1 FROM luma_guest_sync.event_claim WHERE event_uid = '${s.event.uid}' FOR UPDATE`],
      async (take) => {
        luma.serve({
          events: { [s.message.externalEventId]: s.list },
          fault: async (_request, pageNo) => {
            // Page 2 is read ahead while page 1's statement runs: the lock is taken once
            // page 1 is written, or it would stop page 1 instead.
            if (pageNo === 2) {
              await until('page 1 checkpointed', async () => (await checkpointedPages(s.event.uid)) === 1);
              await take();
            }
            return undefined;
          },
        });
        await assertStopsIn(syncEvent(deps(), s.message), 'the page statement of page 2');
      },
    );
    assert.equal(await checkpointedPages(s.event.uid), 1);
  });

  it('the finish (moved rows, guestLastSyncedAt)', async () => {
    const s = await scenario();
    await withLocks([`SELECT 1 FROM "PLEvent" WHERE uid = '${s.event.uid}' FOR UPDATE`], (take) =>
      assertStopsIn(
        syncEvent(deps({ hooks: { beforeFinish: take } }), s.message),
        'the finish (moved rows, guestLastSyncedAt)',
      ),
    );
  });

  it('stale removal, in a real run and in a dry run', async () => {
    const s = await scenario();
    await withLocks([`SELECT 1 FROM "PLEventGuest" WHERE id = ${s.stale.id} FOR UPDATE`], (take) =>
      assertStopsIn(syncEvent(deps({ hooks: { beforeFinish: take } }), s.message), 'stale removal'),
    );
    // A dry run only reads: a table lock is what makes it wait.
    await withLocks(['LOCK TABLE "PLEventGuest" IN ACCESS EXCLUSIVE MODE'], (take) =>
      assertStopsIn(syncEvent(deps({ hooks: { beforeFinish: take } }), s.message, { dryRun: true }), 'stale removal'),
    );
    assert.ok(
      (await guestsOf(app, s.event.uid)).some((g) => g.id === s.stale.id),
      'nothing removed',
    );
  });

  it('the post-sync push refresh, after the finish committed', async () => {
    const s = await scenario();
    await withLocks(['LOCK TABLE "IrlGatheringPushConfig" IN ACCESS EXCLUSIVE MODE'], (take) =>
      assertStopsIn(syncEvent(deps({ hooks: { beforeFinish: take } }), s.message), 'the post-sync push refresh'),
    );
    assert.ok(!(await guestsOf(app, s.event.uid)).some((g) => g.id === s.stale.id), 'the finish before it committed');
  });
});
