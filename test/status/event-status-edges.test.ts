/**
 * What Stryker found unpinned in event-status.ts (docs/mutation.md): an event never
 * attempted shows no last attempt; the overdue flag agrees with countOverdueEvents (the
 * metric) at the cut-off itself; the next sync is the tier's when the event was synced
 * recently, none is shown with neither the scheduler nor a tier, and an event beyond
 * every tier is left to the daily pass.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recordSyncAttempt } from '../../src/history/record-attempt.ts';
import { parseTiers } from '../../src/schedule/tiers.ts';
import { readEventStatuses, type StatusOptions } from '../../src/status/event-status.ts';
import { countOverdueEvents } from '../../src/status/overdue.ts';
import { createTestDatabase } from '../support/db.ts';
import { DAY, seedEvent } from '../support/seed.ts';

const HOUR = 3_600_000;
const MINUTE = 60_000;
const database = await createTestDatabase({ label: 'status_edges' });
const { sql } = database;
const now = new Date(Math.floor(Date.now() / 1000) * 1000);
const ago = (ms: number) => new Date(now.getTime() - ms);
const history = { sql, retentionDays: 30 };
const counts = { pages: 1, fetched: 1, matched: 1, created: 0, removed: 0, skipped: 0 };
const tiers = { tiers: parseTiers('48h=15m,14d=60m'), tickMs: MINUTE };

async function statusOf(eventUid: string, options: Partial<StatusOptions> = {}) {
  const [status] = await readEventStatuses(sql, { now, overdueAfterHours: 24, eventUid, ...options });
  assert.ok(status, `a status for ${eventUid}`);
  return status;
}

async function succeeded(eventUid: string, at: Date) {
  await recordSyncAttempt(history, {
    eventUid,
    trigger: 'schedule',
    startedAt: at,
    finishedAt: new Date(at.getTime() + 1_000),
    outcome: 'success',
    result: counts,
  });
}

describe('an event’s status', () => {
  it('shows no last attempt, success or age for an event never synced', async () => {
    const event = await seedEvent(database.db, { createdAt: ago(HOUR) });
    const status = await statusOf(event.uid);
    assert.equal(status.lastAttempt, undefined);
    assert.equal(status.lastSuccessAt, undefined);
    assert.equal(status.ageSeconds, undefined);
    assert.equal(status.overdue, false, 'created an hour ago: not overdue yet');
  });

  it('is overdue past the cut-off, not at it, as the overdue metric counts it', async () => {
    const before = await countOverdueEvents({ db: database.db }, now, 24);
    // As a sync leaves them: the success in the history, and the event's guestLastSyncedAt.
    const synced = async (at: Date) => {
      const event = await seedEvent(database.db, { createdAt: ago(3 * DAY), guestLastSyncedAt: at });
      await succeeded(event.uid, at);
      return event;
    };
    const atCutOff = await synced(ago(24 * HOUR));
    const past = await synced(ago(24 * HOUR + 1_000));
    assert.equal((await statusOf(atCutOff.uid)).overdue, false);
    assert.equal((await statusOf(past.uid)).overdue, true);
    assert.equal(await countOverdueEvents({ db: database.db }, now, 24), before + 1, 'the metric agrees');
  });

  it('is next synced by its tier one interval after its last success, not at once', async () => {
    const event = await seedEvent(database.db, { startDate: new Date(now.getTime() + 20 * HOUR) });
    await succeeded(event.uid, ago(5 * MINUTE));
    const status = await statusOf(event.uid, { tiers, nextDailyRun: new Date(now.getTime() + 12 * HOUR) });
    assert.equal(status.nextDueBy, '48h');
    assert.ok(status.nextDueAt && status.nextDueAt > now, `due ${status.nextDueAt?.toISOString()}, after now`);
  });

  it('shows no next sync with neither the scheduler nor a tier, and the daily pass beyond every tier', async () => {
    const far = await seedEvent(database.db, { startDate: new Date(now.getTime() + 30 * DAY) });
    const off = await statusOf(far.uid);
    assert.equal(off.nextDueAt, undefined);
    assert.equal(off.nextDueBy, undefined);

    const beyond = await statusOf(far.uid, { tiers });
    assert.equal(beyond.nextDueAt, undefined, 'beyond the widest tier and no daily pass: nothing');

    const daily = new Date(now.getTime() + 3 * HOUR);
    const withDaily = await statusOf(far.uid, { tiers, nextDailyRun: daily });
    assert.equal(withDaily.nextDueBy, 'daily');
    assert.equal(withDaily.nextDueAt?.getTime(), daily.getTime());
  });
});
