import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeleteMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { loadConfig } from '../../src/config/config.ts';
import { createDatabase } from '../../src/db/client.ts';
import { recordSyncAttempt } from '../../src/history/record-attempt.ts';
import { silentLogger } from '../../src/log.ts';
import { createScheduler, runEnqueue } from '../../src/schedule/scheduler.ts';
import { keyedDeduplicationId } from '../../src/schedule/send-messages.ts';
import { createTierScheduler } from '../../src/schedule/tier-schedule.ts';
import { runTierTick } from '../../src/schedule/tier-tick.ts';
import { parseTiers } from '../../src/schedule/tiers.ts';
import type { SyncMessage } from '../../src/sync/types.ts';
import { createTestDatabase } from '../support/db.ts';
import { DAY, seedEvent } from '../support/seed.ts';
import { createFifoQueue, createTestSqs, receiveAll } from '../support/sqs-queue.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const database = await createTestDatabase({ label: 'tier_tick' });
const sqs = createTestSqs();
const tiers = parseTiers('48h=15m,14d=60m');
const tick = { tiers, tickMs: 5 * MIN, budget: 1000, pageSize: 100 };
const SLOT = new Date(Math.floor(Date.now() / (5 * MIN)) * 5 * MIN);
const at = (ms: number) => new Date(SLOT.getTime() + ms);

/** Events in each situation; every test gets its own, on its own queue. */
async function seedSituations() {
  const { db } = database;
  const starts = (ms: number) => ({ startDate: at(ms), endDate: at(ms + 3 * HOUR) });
  return {
    soon: await seedEvent(db, starts(3 * HOUR)),
    nextWeek: await seedEvent(db, starts(5 * DAY)),
    nextMonth: await seedEvent(db, starts(30 * DAY)),
    deleted: await seedEvent(db, { ...starts(2 * HOUR), isDeleted: true }),
    unlinked: await seedEvent(db, { ...starts(2 * HOUR), externalEventId: null }),
  };
}

/** Receives and deletes what the queue holds (FIFO holds back a group's next message until then). */
async function bodies(queueUrl: string): Promise<Array<{ body: SyncMessage; message: Message }>> {
  const messages = await receiveAll(sqs, queueUrl);
  for (const m of messages)
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
  return messages.map((message) => ({ body: JSON.parse(message.Body!), message }));
}

describe('the freshness tick', () => {
  it('enqueues each due event once per slot across replicas, with trigger tier and a slot-keyed id', async () => {
    const queue = await createFifoQueue(sqs, { label: 'tier-replicas' });
    const events = await seedSituations();
    const deps = { sql: database.sql, sqs, queueUrl: queue.url, log: silentLogger };
    const other = createDatabase({ url: database.url, poolMax: 2 });
    try {
      // Two replicas tick the same slot at once, each with its own connections.
      // Whichever reads after the other recorded its slot sends nothing; otherwise SQS drops the copies.
      await Promise.all([
        runTierTick(deps, SLOT, tick),
        runTierTick({ ...deps, sql: other.sql, sqs: createTestSqs() }, SLOT, tick),
      ]);
    } finally {
      await other.close();
    }
    const received = await bodies(queue.url);
    const mine = received.filter((r) => Object.values(events).some((e) => e.uid === r.body.eventUid));
    assert.deepEqual(mine.map((r) => r.body.eventUid).sort(), [events.soon.uid, events.nextWeek.uid].sort());
    for (const { body, message } of mine) {
      assert.equal(body.trigger, 'tier');
      assert.equal(body.scheduledFor, SLOT.toISOString());
      assert.equal(
        message.Attributes?.MessageDeduplicationId,
        keyedDeduplicationId(body.eventUid, 'tier', SLOT.toISOString()),
      );
    }
  });

  it('does not send an event again while its interval runs, and sends each tier at its own interval', async () => {
    const queue = await createFifoQueue(sqs, { label: 'tier-intervals' });
    const events = await seedSituations();
    const deps = { sql: database.sql, sqs, queueUrl: queue.url, log: silentLogger };
    const sentAt = async (offset: number) => {
      await runTierTick(deps, at(offset), tick);
      const uids = new Set(Object.values(events).map((e) => e.uid));
      return (await bodies(queue.url)).map((r) => r.body.eventUid).filter((uid) => uids.has(uid));
    };
    // The first tick of this test sends both; the ones after it only what is due again.
    assert.equal((await sentAt(0)).length, 2);
    assert.deepEqual(await sentAt(5 * MIN), []);
    assert.deepEqual(await sentAt(10 * MIN), []);
    assert.deepEqual(await sentAt(15 * MIN), [events.soon.uid]);
    assert.deepEqual(await sentAt(30 * MIN), [events.soon.uid]);
    assert.deepEqual((await sentAt(60 * MIN)).sort(), [events.soon.uid, events.nextWeek.uid].sort());
  });

  it('counts a sync by any trigger: an event just synced by a webhook is not due', async () => {
    const queue = await createFifoQueue(sqs, { label: 'tier-history' });
    const event = await seedEvent(database.db, { startDate: at(HOUR), endDate: at(4 * HOUR) });
    await recordSyncAttempt(
      { sql: database.sql, retentionDays: 30 },
      {
        eventUid: event.uid,
        trigger: 'webhook',
        startedAt: at(-6 * MIN),
        finishedAt: at(-5 * MIN),
        outcome: 'success',
        result: { pages: 3, fetched: 250, matched: 10, created: 1, removed: 0, skipped: 0 },
      },
    );
    const deps = { sql: database.sql, sqs, queueUrl: queue.url, log: silentLogger };
    const report = await runTierTick(deps, SLOT, { ...tick, dryRun: true });
    assert.ok(report.dryRun);
    const plannedLater = await runTierTick(deps, at(15 * MIN), { ...tick, dryRun: true });
    const received = await bodies(queue.url);
    assert.equal(received.length, 0, 'a dry run sends nothing');
    // Due again 15 minutes after the sync (less one tick): at +15 it is.
    assert.ok(plannedLater.enqueued >= 1);
    assert.ok(plannedLater.plannedRequests >= 3, 'its cost is the 3 pages it last took');
  });

  it('estimates an event with no recorded success from its synced rows and the guests per match of recent syncs', async () => {
    // A database of its own: the guests per match come from every event's history.
    const own = await createTestDatabase({ label: 'tier_estimate' });
    const event = await seedEvent(own.db, { startDate: at(3 * HOUR), endDate: at(6 * HOUR) });
    // 450 synced rows and no history: an event the history has forgotten (or one a
    // failing sync has filled), whose next sync reads about 900 guests.
    await own.sql`
      INSERT INTO "Member" (uid, name, email, "updatedAt")
      SELECT 'est-m-' || i, 'Member ' || i, 'est' || i || '@example.com', now() FROM generate_series(1, 450) i`;
    await own.sql`
      INSERT INTO "PLEventGuest" (uid, "eventUid", "locationUid", "memberUid", "externalGuestId", "updatedAt")
      SELECT 'est-g-' || i, ${event.uid}, ${event.locationUid!}, 'est-m-' || i, 'gst-est-' || i, now()
      FROM generate_series(1, 450) i`;
    // Recent syncs of other events read two guests per matched member.
    await recordSyncAttempt(
      { sql: own.sql, retentionDays: 30 },
      {
        eventUid: 'another-event',
        trigger: 'schedule',
        startedAt: at(-DAY),
        finishedAt: at(-DAY + MIN),
        outcome: 'success',
        result: { pages: 4, fetched: 400, matched: 200, created: 0, removed: 0, skipped: 0 },
      },
    );
    const deps = { sql: own.sql, sqs, queueUrl: 'unused-in-a-dry-run', log: silentLogger };
    const tight = await runTierTick(deps, SLOT, { ...tick, budget: 8, dryRun: true });
    assert.deepEqual([tight.enqueued, tight.deferred], [0, 1], 'not passed off as a one-page event');
    const roomy = await runTierTick(deps, SLOT, { ...tick, budget: 9, dryRun: true });
    assert.deepEqual([roomy.enqueued, roomy.plannedRequests], [1, 9], '900 guests at 100 a page');
  });

  it('leaves due events past its budget for a later tick, soonest first', async () => {
    const queue = await createFifoQueue(sqs, { label: 'tier-budget' });
    const near = await seedEvent(database.db, { startDate: at(-2 * DAY + 30 * MIN), endDate: at(10 * MIN) });
    await seedEvent(database.db, { startDate: at(-2 * DAY + 40 * MIN), endDate: at(10 * MIN) });
    const deps = { sql: database.sql, sqs, queueUrl: queue.url, log: silentLogger };
    const report = await runTierTick(deps, SLOT, { ...tick, budget: 1 });
    assert.equal(report.enqueued, 1);
    assert.ok(report.deferred >= 1);
    const [only] = await bodies(queue.url);
    assert.equal(only?.body.eventUid, near.uid, 'the event that started first (and has not ended) goes first');
  });

  it('never holds back the daily pass: a stuck tick does not delay the daily scheduler', async () => {
    const queue = await createFifoQueue(sqs, { label: 'tier-daily' });
    const event = await seedEvent(database.db);
    const config = loadConfig({ PL_EVENT_GUEST_SYNC_TIERS_ENABLED: 'true' });
    const tierScheduler = createTierScheduler({
      config,
      sql: database.sql,
      sqs,
      queueUrl: queue.url,
      log: silentLogger,
    });
    const daily = createScheduler({
      cron: config.cron,
      log: silentLogger,
      enqueueOnce: (slot, signal) =>
        runEnqueue({ db: database.db, sqs, queueUrl: queue.url, log: silentLogger }, slot, { signal }),
    });
    // Hold the tick inside its database read: another session locks a table it reads.
    const locker = createDatabase({ url: database.url, poolMax: 1 });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holding = locker.sql.begin(async (tx) => {
      await tx`LOCK TABLE luma_guest_sync.tier_enqueued IN ACCESS EXCLUSIVE MODE`;
      locked();
      await released;
    });
    await isLocked;
    let tickDone = false;
    const stuck = tierScheduler.tick(SLOT).then(() => {
      tickDone = true;
    });
    await daily.tick(SLOT);
    assert.equal(tickDone, false, 'the tick is still held');
    const dailyMessages = await bodies(queue.url);
    assert.ok(dailyMessages.some((r) => r.body.eventUid === event.uid && r.body.trigger === undefined));
    release();
    await holding;
    await stuck;
    await locker.close();
    assert.equal(tickDone, true);
  });
});
