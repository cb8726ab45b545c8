import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runStatusCommand } from '../../src/cli/status-command.ts';
import { loadConfig } from '../../src/config/config.ts';
import { recordSyncAttempt } from '../../src/history/record-attempt.ts';
import type { EventStatus } from '../../src/status/event-status.ts';
import { createTestDatabase } from '../support/db.ts';
import { DAY, seedEvent, seedGuest, seedMember } from '../support/seed.ts';

const HOUR = 3_600_000;
const MINUTE = 60_000;
const db = await createTestDatabase({ label: 'status' });
const now = new Date();
const ago = (ms: number) => new Date(now.getTime() - ms);
const history = { sql: db.sql, retentionDays: 30 };
const counts = { pages: 3, fetched: 250, matched: 40, created: 7, removed: 0, skipped: 1 };

// Healthy: synced by the daily pass an hour ago.
const healthy = await seedEvent(db.db, { name: 'Healthy', startDate: new Date(now.getTime() + 10 * DAY) });
await recordSyncAttempt(history, {
  eventUid: healthy.uid,
  trigger: 'schedule',
  startedAt: ago(HOUR),
  finishedAt: ago(HOUR - 2_000),
  outcome: 'success',
  result: counts,
});
// Failing: succeeded two hours ago, then its last attempt failed (not yet overdue).
const failing = await seedEvent(db.db, { name: 'Failing', startDate: new Date(now.getTime() + 20 * HOUR) });
await recordSyncAttempt(history, {
  eventUid: failing.uid,
  trigger: 'tier',
  startedAt: ago(2 * HOUR),
  finishedAt: ago(2 * HOUR - 1_000),
  outcome: 'success',
  result: counts,
});
await recordSyncAttempt(history, {
  eventUid: failing.uid,
  trigger: 'webhook',
  startedAt: ago(10 * MINUTE),
  finishedAt: ago(9 * MINUTE),
  outcome: 'failure',
  errorKind: 'provider',
});
// Overdue: never synced, created three days ago.
const overdue = await seedEvent(db.db, { name: 'Overdue', createdAt: ago(3 * DAY) });
// Not syncable (ended): never listed.
const ended = await seedEvent(db.db, { name: 'Ended', startDate: ago(3 * DAY), endDate: ago(2 * DAY) });
// A guest with an email, which status must never print.
const member = await seedMember(db.db, { email: 'secret.person@example.org' });
await seedGuest(db.db, { eventUid: healthy.uid, memberUid: member.uid, locationUid: healthy.locationUid! });

function config(env: Record<string, string> = {}) {
  return loadConfig({
    DATABASE_URL: db.url,
    PL_EVENT_GUEST_SYNC_ENABLED: 'true',
    LUMA_API_KEY: 'status-test-key',
    ...env,
  });
}

async function status(options: { eventUid?: string; json?: boolean; env?: Record<string, string> } = {}) {
  let out = '';
  let err = '';
  const code = await runStatusCommand(config(options.env), {
    eventUid: options.eventUid,
    json: options.json ?? false,
    now,
    write: (text) => {
      out += text;
    },
    writeError: (text) => {
      err += text;
    },
  });
  return { code, out, err };
}

describe('luma-guest-sync status', () => {
  it('lists the syncable events with their last attempt, and exits 1 while one failed or is overdue', async () => {
    const { code, out } = await status();
    assert.equal(code, 1);
    const lines = out.split('\n');
    const row = (uid: string) => lines.find((l) => l.startsWith(uid)) ?? '';
    assert.match(row(healthy.uid), /schedule\s+ok\s+3\s+7\s+40\s+210\s+1h\s.*\(daily\)\s+ok$/);
    assert.match(row(failing.uid), /webhook\s+failed \(provider\)\s+-\s+-\s+-\s+-\s+2h\s.*FAILED$/);
    assert.match(row(overdue.uid), /never\s+-\s+-\s+-\s+-\s+-\s+-\s+never\s.*OVERDUE$/);
    assert.equal(row(ended.uid), '', 'an ended event is not syncable');
    assert.match(out, /3 syncable event\(s\): 1 whose last sync failed, 1 overdue/);
    assert.doesNotMatch(out, /@/, 'no email in the output');
  });

  it('gives the same as JSON, with the next daily run from the cron expression', async () => {
    const { code, out } = await status({ json: true, env: { PL_EVENT_GUEST_SYNC_CRON: '30 4 * * *' } });
    assert.equal(code, 1);
    const { events } = JSON.parse(out) as { events: Array<EventStatus & { nextDueAt: string }> };
    assert.deepEqual(
      events.map((e) => e.eventUid),
      [failing.uid, overdue.uid, healthy.uid],
      'soonest start first',
    );
    const first = events.find((e) => e.eventUid === healthy.uid)!;
    assert.equal(first.lastAttempt?.withoutAccount, 210);
    assert.equal(first.ageSeconds, 3_600);
    const next = new Date(first.nextDueAt);
    assert.equal(`${next.getUTCHours()}:${next.getUTCMinutes()}`, '4:30');
    assert.ok(next > now && next.getTime() - now.getTime() <= DAY);
    assert.doesNotMatch(out, /@/);
  });

  it('puts an event starting soon on its tier when the tiers are on', async () => {
    const { out } = await status({
      json: true,
      env: { PL_EVENT_GUEST_SYNC_TIERS_ENABLED: 'true', PL_EVENT_GUEST_SYNC_TIERS: '48h=15m,14d=60m' },
    });
    const { events } = JSON.parse(out) as { events: Array<EventStatus & { nextDueAt: string }> };
    const soon = events.find((e) => e.eventUid === failing.uid)!;
    // Its last success was two hours ago: due on the 48 h tier right away.
    assert.equal(soon.nextDueBy, '48h');
    assert.equal(new Date(soon.nextDueAt).getTime(), now.getTime());
    const later = events.find((e) => e.eventUid === healthy.uid)!;
    assert.equal(later.nextDueBy, '14d', 'an hourly tier comes before the next daily pass');
  });

  it('shows one event with its recent attempts, newest first', async () => {
    const { code, out } = await status({ eventUid: failing.uid });
    assert.equal(code, 1);
    const attempts = out.slice(out.indexOf('Recent attempts'));
    assert.ok(attempts.indexOf('webhook') < attempts.indexOf('tier'), out);
    assert.match(attempts, /tier\s+ok\s+3\s+250\s+40\s+7\s+0\s+1\s+210/);

    const healthyOnly = await status({ eventUid: healthy.uid });
    assert.equal(healthyOnly.code, 0, 'a healthy event passes the check');
  });

  it('says so, and exits 1, for an unknown event', async () => {
    const { code, out, err } = await status({ eventUid: 'evt-does-not-exist' });
    assert.equal(code, 1);
    assert.equal(err, 'luma-guest-sync: no event with uid evt-does-not-exist\n', 'on stderr, with the errors');
    assert.equal(out, '', 'nothing on stdout, where results go');
    const json = await status({ eventUid: 'evt-does-not-exist', json: true });
    assert.deepEqual(JSON.parse(json.out), { error: 'no such event' }, 'a JSON reader gets its answer on stdout');
  });
});
