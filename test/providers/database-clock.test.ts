import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDatabaseClockBound } from '../../src/providers/database-clock.ts';

describe('createDatabaseClockBound', () => {
  // A database clock `offsetMs` ahead of this process's, running `ppm` faster; calls reach it
  // after an outbound delay. The bound must never read earlier than that clock.
  const databaseAt = (t: number, offsetMs: number, ppm = 0) => t + offsetMs + t * ppm * 1e-6;

  it('never reads earlier than the database clock, whatever each call spent reaching it', () => {
    const bound = createDatabaseClockBound(2_000);
    const outbound = [400, 3, 120, 0.5, 60, 900, 7];
    const calls = outbound.map((delay, i) => {
      const sentMs = 100 + i * 150;
      return { sentMs, askedMs: databaseAt(sentMs + delay, 5_000) };
    });
    for (const call of calls) bound.record(call);
    for (const own of calls) {
      for (const at of [1_200, 1_500, 2_000]) {
        const latest = bound.latestAt(at, own);
        assert.ok(latest >= databaseAt(at, 5_000), `${latest} before the database's ${databaseAt(at, 5_000)}`);
        // The fastest call of the window (0.5 ms on its way) sets it, whichever call is the request's own.
        assert.ok(latest <= databaseAt(at, 5_000) + 0.5 + 1 + 1, `${latest - databaseAt(at, 5_000)} ms late`);
      }
    }
  });

  it('stays at or after the database clock when that clock runs fast, and forgets calls older than its window', () => {
    const bound = createDatabaseClockBound(60_000);
    // 80 ppm fast (the margin is 100): a quick call, then its age grows to a minute.
    const quick = { sentMs: 0, askedMs: databaseAt(0, 1_000, 80) };
    bound.record(quick);
    const own = { sentMs: 59_000, askedMs: databaseAt(59_000 + 300, 1_000, 80) };
    const atMinute = bound.latestAt(60_000, own);
    assert.ok(atMinute >= databaseAt(60_000, 1_000, 80), `${atMinute - databaseAt(60_000, 1_000, 80)} ms`);
    // Past its window the quick call no longer counts: only the own call's 300 ms remain.
    const later = bound.latestAt(61_000, own);
    assert.ok(later - databaseAt(61_000, 1_000, 80) >= 299, `${later - databaseAt(61_000, 1_000, 80)} ms`);
  });
});

describe('createDatabaseClockBound, exactly', () => {
  // Arrival offsets of 5 000 ms (the own call) and 4 990 ms (a faster one); at 1 200 ms the
  // own call is 1 100 ms old, the other 1 000 ms.
  const own = { sentMs: 100, askedMs: 5_100 };
  const faster = { sentMs: 200, askedMs: 5_190 };

  it('is the fastest call’s offset, plus 100 ppm of that call’s age for drift, plus 1 ms', () => {
    const bound = createDatabaseClockBound(2_000);
    assert.ok(Math.abs(bound.latestAt(1_200, own) - (1_200 + 5_000 + 0.11 + 1)) < 1e-9);
    bound.record(faster);
    assert.ok(Math.abs(bound.latestAt(1_200, own) - (1_200 + 4_990 + 0.1 + 1)) < 1e-9);
  });

  it('still counts a call exactly its window old, and not one a millisecond older', () => {
    const bound = createDatabaseClockBound(1_000);
    bound.record(faster);
    assert.ok(Math.abs(bound.latestAt(1_200, own) - (1_200 + 4_990 + 0.1 + 1)) < 1e-9);
    assert.ok(Math.abs(bound.latestAt(1_201, own) - (1_201 + 5_000 + 0.1101 + 1)) < 1e-9);
  });

  it('ignores a call whose arrival the database did not report, so the bound stays a number', () => {
    const bound = createDatabaseClockBound(2_000);
    bound.record({ sentMs: 150, askedMs: Number.NaN });
    bound.record({ sentMs: Number.NaN, askedMs: 4_000 });
    assert.ok(Math.abs(bound.latestAt(1_200, own) - (1_200 + 5_000 + 0.11 + 1)) < 1e-9);
  });
});
