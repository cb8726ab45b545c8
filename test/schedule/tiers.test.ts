import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  estimatePages,
  parseTiers,
  planTick,
  type TierCandidate,
  tickBudget,
  tierDueAt,
  tierOf,
} from '../../src/schedule/tiers.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const SLOT = new Date('2031-06-01T12:00:00.000Z');
const tiers = parseTiers('48h=15m,14d=60m');

function candidate(uid: string, startsInMs: number, extra: Partial<TierCandidate<string>> = {}): TierCandidate<string> {
  return { event: uid, eventUid: uid, startDate: new Date(SLOT.getTime() + startsInMs), ...extra };
}
const ago = (ms: number) => new Date(SLOT.getTime() - ms);
const plan = (candidates: TierCandidate<string>[], budget = 1000) =>
  planTick(candidates, { tiers, slot: SLOT, tickMs: 5 * MIN, budget, pageSize: 100 });

describe('freshness tiers', () => {
  it('parses <starts within>=<sync every> pairs, nearest first, and names what is wrong', () => {
    assert.deepEqual(parseTiers(' 14d=1h , 48h=15m '), [
      { name: '48h', horizonMs: 48 * HOUR, intervalMs: 15 * MIN },
      { name: '14d', horizonMs: 14 * DAY, intervalMs: HOUR },
    ]);
    assert.throws(() => parseTiers(''), /at least one tier/);
    assert.throws(() => parseTiers('48h'), /tier "48h" is not <starts within>=<sync every>/);
    assert.throws(() => parseTiers('48h=15s'), /interval "15s" is not a duration such as 15m/);
    assert.throws(() => parseTiers('0h=15m'), /horizon "0h" must be longer than zero/);
    assert.throws(() => parseTiers('48h=15m,2d=1h'), /horizon 2d is listed twice/);
  });

  it('reads spaces around each part and its =, and an empty part (a trailing comma) as nothing', () => {
    const expected = [
      { name: '48h', horizonMs: 48 * HOUR, intervalMs: 15 * MIN },
      { name: '14d', horizonMs: 14 * DAY, intervalMs: HOUR },
    ];
    assert.deepEqual(parseTiers('48h = 15m ,\t14d=\t1h'), expected);
    assert.deepEqual(parseTiers('48h=15m, 14d=1h, '), expected);
    assert.deepEqual(parseTiers('48h=15m,,14d=1h,'), expected);
  });

  it('refuses a part with two = signs, and a duration that is not digits and a unit alone', () => {
    assert.throws(() => parseTiers('48h=15m=1h'), /tier "48h=15m=1h" is not <starts within>=<sync every>/);
    for (const bad of ['15min', 'x15m', '123456m', '1.5h', '-5m', 'h']) {
      assert.throws(() => parseTiers(`48h=${bad}`), /is not a duration/, bad);
    }
    assert.deepEqual(parseTiers('99999m=1m')[0]?.horizonMs, 99_999 * MIN);
  });

  it('counts an event due one interval after the later of its last tick slot and its last success less one tick', () => {
    const tier = { name: '48h', horizonMs: 48 * HOUR, intervalMs: 15 * MIN };
    const tickMs = 5 * MIN;
    const slotLater = { lastTierSlot: ago(10 * MIN), lastSuccessAt: ago(30 * MIN) };
    assert.equal(tierDueAt(slotLater, tier, tickMs), SLOT.getTime() + 5 * MIN);
    const successLater = { lastTierSlot: ago(60 * MIN), lastSuccessAt: ago(12 * MIN) };
    assert.equal(tierDueAt(successLater, tier, tickMs), SLOT.getTime() - 2 * MIN);
    assert.equal(tierDueAt({}, tier, tickMs), Number.NEGATIVE_INFINITY);
  });

  it('puts an event in the nearest tier covering its start, started events included', () => {
    const now = SLOT.getTime();
    assert.equal(tierOf(tiers, now - HOUR, now)?.name, '48h', 'already started, not yet ended');
    assert.equal(tierOf(tiers, now + 48 * HOUR, now)?.name, '48h');
    assert.equal(tierOf(tiers, now + 48 * HOUR + 1, now)?.name, '14d');
    assert.equal(tierOf(tiers, now + 15 * DAY, now), undefined);
  });

  it('enqueues an event once per interval since its last tick slot or its last success', () => {
    const result = plan([
      candidate('never-synced', 2 * HOUR),
      candidate('sent-15m-ago', 3 * HOUR, { lastTierSlot: ago(15 * MIN) }),
      candidate('sent-10m-ago', 4 * HOUR, { lastTierSlot: ago(10 * MIN) }),
      // A sync that started 2 minutes after the tick 15 minutes ago still counts for that tick.
      candidate('synced-13m-ago', 5 * HOUR, { lastSuccessAt: ago(13 * MIN) }),
      candidate('synced-9m-ago', 6 * HOUR, { lastSuccessAt: ago(9 * MIN) }),
      candidate('hourly-synced-50m-ago', 5 * DAY, { lastSuccessAt: ago(50 * MIN) }),
      candidate('hourly-synced-56m-ago', 6 * DAY, { lastSuccessAt: ago(56 * MIN) }),
      candidate('beyond-every-tier', 20 * DAY),
    ]);
    assert.deepEqual(
      result.selected.map((s) => [s.candidate.eventUid, s.tier.name]),
      [
        ['never-synced', '48h'],
        ['sent-15m-ago', '48h'],
        ['synced-13m-ago', '48h'],
        ['hourly-synced-56m-ago', '14d'],
      ],
    );
  });

  it('spends at most the budget, estimated from each event’s last page count, soonest first', () => {
    const result = plan(
      [
        candidate('later', 30 * HOUR, { lastPages: 2 }),
        candidate('soonest', 1 * HOUR, { lastPages: 5 }),
        candidate('big', 2 * HOUR, { lastPages: 20 }),
        candidate('unknown-cost', 3 * HOUR),
      ],
      8,
    );
    assert.deepEqual(
      result.selected.map((s) => [s.candidate.eventUid, s.cost]),
      [
        ['soonest', 5],
        ['unknown-cost', 1],
        ['later', 2],
      ],
    );
    assert.equal(result.cost, 8);
    assert.equal(result.deferred, 1, 'the 20-page event waits for a tick with room');
  });

  it('estimates an event with no recorded success from its synced rows, scaled by the guests per match, at least one page', () => {
    assert.equal(estimatePages({ syncedGuests: 450, guestsPerMatch: 2 }, 100), 9, '900 guests, 100 a page');
    assert.equal(estimatePages({ syncedGuests: 450 }, 100), 5, 'no history anywhere: at least the synced rows');
    assert.equal(estimatePages({ syncedGuests: 450, guestsPerMatch: 0.5 }, 100), 5, 'never fewer guests than rows');
    assert.equal(estimatePages({ syncedGuests: 0, guestsPerMatch: 3 }, 100), 1, 'a new event: the floor');
    assert.equal(estimatePages({}, 100), 1);
    assert.equal(estimatePages({ lastPages: 3, syncedGuests: 4_000 }, 100), 3, 'a recorded success wins');

    // A large event the history has forgotten does not pass for a one-page event.
    const result = plan(
      [
        candidate('large-pruned', 1 * HOUR, { syncedGuests: 1_200, guestsPerMatch: 1.5 }),
        candidate('small', 2 * HOUR, { lastPages: 2 }),
      ],
      10,
    );
    assert.deepEqual(
      result.selected.map((s) => [s.candidate.eventUid, s.cost]),
      [['small', 2]],
    );
    assert.equal(result.deferred, 1, 'the 18-page event waits for a tick with room');
  });

  it('reports per tier how long its longest-waiting due event has been due', () => {
    const result = plan(
      [
        candidate('late', HOUR, { lastSuccessAt: ago(45 * MIN) }),
        candidate('on-time', 2 * HOUR, { lastTierSlot: ago(15 * MIN) }),
      ],
      0,
    );
    // Last success 45 min ago counts as 50 (one tick earlier): due 15 min after that, 35 min ago.
    assert.equal(result.oldestDueMs.get('48h'), 35 * MIN);
    assert.equal(result.oldestDueMs.get('14d'), 0);
    assert.equal(result.deferred, 2);
  });

  it('turns a share of the per-minute budget into the requests of one tick', () => {
    assert.equal(tickBudget({ share: 0.5, perWindow: 180, windowMs: 60_000, tickMs: 5 * MIN }), 450);
    assert.equal(tickBudget({ share: 0.25, perWindow: 20, windowMs: 2_000, tickMs: 10_000 }), 25);
  });
});
