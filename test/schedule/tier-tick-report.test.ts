/**
 * What a freshness tick reports and logs (the figures the metrics and an operator read),
 * what a dry run leaves alone, and how its sender batches and counts, against a scripted
 * SQS client; the real queue's deduplication is tier-tick.test.ts's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SendMessageBatchCommand, SendMessageBatchRequestEntry, SQSClient } from '@aws-sdk/client-sqs';
import { loadConfig } from '../../src/config/config.ts';
import { keyedDeduplicationId, sendSyncMessages } from '../../src/schedule/send-messages.ts';
import { createTierScheduler, tierPlanOptions } from '../../src/schedule/tier-schedule.ts';
import { runTierTick } from '../../src/schedule/tier-tick.ts';
import { parseTiers } from '../../src/schedule/tiers.ts';
import type { SyncMessage } from '../../src/sync/types.ts';
import { captureLogs } from '../providers/support.ts';
import { createTestDatabase } from '../support/db.ts';
import { DAY, seedEvent } from '../support/seed.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const database = await createTestDatabase({ label: 'tier_tick_report' });
const tick = { tiers: parseTiers('48h=15m,14d=60m'), tickMs: 5 * MIN, budget: 1000, pageSize: 100 };

/** An SQS client that accepts every entry except those of `refuse`'s event uids, recording each call. */
function scriptedSqs(refuse: string[] = []) {
  const calls: Array<{ entries: SendMessageBatchRequestEntry[]; abortSignal?: AbortSignal }> = [];
  const sqs = {
    async send(command: SendMessageBatchCommand, options?: { abortSignal?: AbortSignal }) {
      const entries = command.input.Entries ?? [];
      calls.push({ entries, abortSignal: options?.abortSignal });
      const refused = entries.filter((e) => refuse.includes(e.MessageGroupId!));
      return {
        Successful: entries.filter((e) => !refused.includes(e)).map((e) => ({ Id: e.Id })),
        Failed: refused.map((e) => ({ Id: e.Id, SenderFault: false, Code: 'Busy' })),
      };
    },
  };
  const uids = () => calls.flatMap((c) => c.entries.map((e) => e.MessageGroupId));
  return { sqs: sqs as unknown as SQSClient, calls, uids };
}

/** Two events never synced, one per tier, at a slot of their own (far from other tests' events). */
async function twoDueEvents(slot: Date) {
  const at = (ms: number) => new Date(slot.getTime() + ms);
  const soon = await seedEvent(database.db, { startDate: at(3 * HOUR), endDate: at(6 * HOUR) });
  const nextWeek = await seedEvent(database.db, { startDate: at(5 * DAY), endDate: at(5 * DAY + 3 * HOUR) });
  return { soon, nextWeek };
}

describe('the freshness tick’s report', () => {
  it('reports what it planned and sent, per tier, logs it as info, and then finds nothing due at the same slot', async () => {
    const slot = new Date('2050-01-01T12:00:00.000Z');
    const { soon, nextWeek } = await twoDueEvents(slot);
    const alsoSoon = await seedEvent(database.db, {
      startDate: new Date(slot.getTime() + 4 * HOUR),
      endDate: new Date(slot.getTime() + 7 * HOUR),
    });
    const sqs = scriptedSqs();
    const { log, entries } = captureLogs();
    const signal = new AbortController().signal;
    const report = await runTierTick({ sql: database.sql, sqs: sqs.sqs, queueUrl: 'q', log }, slot, {
      ...tick,
      signal,
    });
    assert.deepEqual(report, {
      slot: slot.toISOString(),
      candidates: 3,
      enqueued: 3,
      deferred: 0,
      failed: 0,
      plannedRequests: 3,
      budget: 1000,
      // Never synced: due for one interval each.
      oldestDueSeconds: { '48h': 900, '14d': 3600 },
      enqueuedByTier: { '48h': 2, '14d': 1 },
      dryRun: false,
    });
    assert.deepEqual(sqs.uids(), [soon.uid, alsoSoon.uid, nextWeek.uid]);
    assert.equal(sqs.calls[0]?.abortSignal, signal, 'the tick’s signal reaches the send');
    const [line] = entries();
    assert.deepEqual([line?.level, line?.msg, line?.enqueued], [30, 'tier tick complete', 3]);

    const again = await runTierTick({ sql: database.sql, sqs: sqs.sqs, queueUrl: 'q', log }, slot, tick);
    assert.deepEqual(
      [again.enqueued, again.enqueuedByTier, again.oldestDueSeconds],
      [0, { '48h': 0, '14d': 0 }, { '48h': 0, '14d': 0 }],
    );
    assert.equal(sqs.calls.length, 1, 'nothing sent again');
  });

  it('counts per tier only what SQS accepted, logs a tick with failures as a warning, and sends the refused event again next tick', async () => {
    const slot = new Date('2051-01-01T12:00:00.000Z');
    const { soon } = await twoDueEvents(slot);
    const refusing = scriptedSqs([soon.uid]);
    const { log, entries } = captureLogs();
    const report = await runTierTick({ sql: database.sql, sqs: refusing.sqs, queueUrl: 'q', log }, slot, tick);
    assert.deepEqual([report.enqueued, report.failed, report.enqueuedByTier], [1, 1, { '48h': 0, '14d': 1 }]);
    assert.equal(entries()[0]?.level, 40);
    const next = scriptedSqs();
    await runTierTick(
      { sql: database.sql, sqs: next.sqs, queueUrl: 'q', log },
      new Date(slot.getTime() + 5 * MIN),
      tick,
    );
    assert.deepEqual(next.uids(), [soon.uid]);
  });

  it('logs a tick that left due events for later as a warning', async () => {
    const slot = new Date('2052-01-01T12:00:00.000Z');
    await twoDueEvents(slot);
    const { log, entries } = captureLogs();
    const report = await runTierTick({ sql: database.sql, sqs: scriptedSqs().sqs, queueUrl: 'q', log }, slot, {
      ...tick,
      budget: 1,
    });
    assert.deepEqual([report.enqueued, report.deferred, report.failed], [1, 1, 0]);
    assert.equal(entries()[0]?.level, 40);
  });

  it('on a dry run reports what it would send, sends nothing and remembers nothing', async () => {
    const slot = new Date('2053-01-01T12:00:00.000Z');
    const { soon, nextWeek } = await twoDueEvents(slot);
    const sqs = scriptedSqs();
    const { log } = captureLogs();
    const dry = await runTierTick({ sql: database.sql, sqs: sqs.sqs, queueUrl: 'q', log }, slot, {
      ...tick,
      dryRun: true,
    });
    assert.deepEqual([dry.enqueued, dry.dryRun, sqs.calls.length], [2, true, 0]);
    await runTierTick({ sql: database.sql, sqs: sqs.sqs, queueUrl: 'q', log }, slot, tick);
    assert.deepEqual(sqs.uids(), [soon.uid, nextWeek.uid], 'the dry run recorded no slot');
  });
});

describe('sendSyncMessages', () => {
  const outgoing = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      message: { eventUid: `e${i}` } as SyncMessage,
      deduplicationId: keyedDeduplicationId(`e${i}`, 'tier', 'slot'),
    }));

  it('sends ten a call, each message once, and returns the uids accepted in order', async () => {
    const ten = scriptedSqs();
    assert.deepEqual(await sendSyncMessages({ sqs: ten.sqs, queueUrl: 'q' }, outgoing(10)), {
      sent: outgoing(10).map((o) => o.message.eventUid),
      failed: 0,
    });
    assert.equal(ten.calls.length, 1, 'no empty call after a full one');
    const twelve = scriptedSqs(['e3', 'e11']);
    const result = await sendSyncMessages({ sqs: twelve.sqs, queueUrl: 'q' }, outgoing(12));
    assert.deepEqual(
      twelve.calls.map((c) => c.entries.length),
      [10, 2],
    );
    assert.equal(result.failed, 2);
    assert.deepEqual(result.sent, ['e0', 'e1', 'e2', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9', 'e10']);
  });

  it('counts an answer that lists no failures as none failed, and one that lists no successes as none sent', async () => {
    const sqs = { send: async () => ({ Successful: [{ Id: 'm0' }] }) } as unknown as SQSClient;
    assert.deepEqual(await sendSyncMessages({ sqs, queueUrl: 'q' }, outgoing(1)), { sent: ['e0'], failed: 0 });
    const none = { send: async () => ({ Failed: [{ Id: 'm0' }] }) } as unknown as SQSClient;
    assert.deepEqual(await sendSyncMessages({ sqs: none, queueUrl: 'q' }, outgoing(1)), { sent: [], failed: 1 });
  });

  it('derives different deduplication ids from different parts, however they split', () => {
    assert.notEqual(keyedDeduplicationId('ab', 'c'), keyedDeduplicationId('a', 'bc'));
    assert.equal(keyedDeduplicationId('a', 'bc'), keyedDeduplicationId('a', 'bc'));
  });
});

describe('the freshness schedule', () => {
  it('plans each tick with the configured tiers, the tick’s length and its share of the budget', () => {
    const config = loadConfig({
      PL_EVENT_GUEST_SYNC_TIERS: '48h=15m',
      PL_EVENT_GUEST_SYNC_TIER_TICK_MINUTES: '10',
      PL_EVENT_GUEST_SYNC_TIER_BUDGET_SHARE: '0.5',
      LUMA_RATE_LIMIT_PER_MINUTE: '120',
      LUMA_PAGE_SIZE: '50',
    });
    assert.deepEqual(tierPlanOptions(config), {
      tiers: parseTiers('48h=15m'),
      tickMs: 10 * MIN,
      // Half of 120 a minute over ten minutes.
      budget: 600,
      pageSize: 50,
    });
  });

  it('runs a tick without an onTick listener, logging as the tiers schedule', async () => {
    const { log, entries } = captureLogs();
    const scheduler = createTierScheduler({
      config: loadConfig({ PL_EVENT_GUEST_SYNC_TIERS: '48h=15m' }),
      sql: database.sql,
      sqs: scriptedSqs().sqs,
      queueUrl: 'q',
      log,
    });
    await scheduler.tick(new Date('2060-01-01T00:00:00.000Z'));
    scheduler.start();
    await scheduler.stop();
    const lines = entries();
    assert.deepEqual(
      lines.map((l) => [l.msg, l.schedule]),
      [
        ['tier tick complete', 'tiers'],
        ['scheduler started', 'tiers'],
      ],
    );
    // Every PL_EVENT_GUEST_SYNC_TIER_TICK_MINUTES (5 by default).
    assert.equal(lines[1]?.cron, '*/5 * * * *');
  });
});
