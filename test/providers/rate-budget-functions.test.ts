/**
 * The shared budget's database functions (migration 0011) called directly, for what a
 * whole budget run cannot show exactly: the slot a dead request's hold frees, the time an
 * end is stamped with, an end for a hold already gone, and a release touching one key
 * only. shared-budget.test.ts drives the same functions through createSharedBudget.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createTestDatabase } from '../support/db.ts';
import { until } from '../support/faults.ts';

const database = await createTestDatabase({ label: 'rate_budget_functions' });
const { sql } = database;
let keys = 0;
const newKey = () => `test:functions-${++keys}`;

async function reserve(key: string, limit: number, windowMs: number, holdMs: number) {
  const [row] = await sql<{ wait_ms: number; slot_at: string | null }[]>`
    SELECT wait_ms, slot_at::text AS slot_at
    FROM luma_guest_sync.reserve_rate_slot(${key}, ${limit}::int, ${windowMs}::int, ${holdMs}::int)`;
  return row!;
}

async function stored(key: string) {
  const [row] = await sql<{ ends: string[]; holds: string[] }[]>`
    SELECT starts::text[] AS ends, holds::text[] AS holds FROM luma_guest_sync.rate_budget WHERE "key" = ${key}`;
  return row!;
}

describe('the rate budget functions', () => {
  it('reserves the slot a request that never ended frees, one window after its hold ran out', async () => {
    const key = newKey();
    const granted = await reserve(key, 1, 60_000, 100);
    assert.ok(granted.slot_at);
    // Its process died: no end ever comes. Once its hold has run out, its leaving time is known.
    await delay(300);
    const next = await reserve(key, 1, 60_000, 100);
    assert.ok(next.slot_at, 'a slot reserved for when the dead request leaves, not "ask again in a window"');
    // Measured on the database's clock, so a slow machine between the two calls changes
    // nothing: the dead request leaves when its 100 ms hold ran out, the slot one window later.
    const [gap] = await sql<{ ms: number }[]>`
      SELECT (extract(epoch FROM ${next.slot_at}::timestamptz - ${granted.slot_at}::timestamptz) * 1000)::int AS ms`;
    assert.equal(gap?.ms, 60_100, 'one window after the hold ran out');
    assert.ok(next.wait_ms > 0 && next.wait_ms < 60_000, `${next.wait_ms} ms`);
  });

  it('stamps an end with the caller’s bound when it is earlier than the call’s arrival', async () => {
    const key = newKey();
    const { slot_at } = await reserve(key, 5, 60_000, 60_000);
    const [row] = await sql<{ bound: string }[]>`
      SELECT (${slot_at}::timestamptz + interval '1 millisecond')::text AS bound`;
    const bound = row!.bound;
    // The call must reach the database after the bound, or the bound is not the earlier of
    // the two: reserve, bound and end can all run within a millisecond (seen in a full run:
    // the end arrived 0.94 ms after the slot). Wait for the database's clock to pass it.
    await until('the database clock to pass the bound', async () => {
      const [clock] = await sql<{ past: boolean }[]>`SELECT clock_timestamp() > ${bound}::timestamptz AS past`;
      return clock!.past;
    });
    await sql`SELECT luma_guest_sync.end_rate_slot(${key}, ${slot_at}::timestamptz, ${bound}::timestamptz)`;
    const after = await stored(key);
    assert.deepEqual(after.holds, []);
    assert.deepEqual(
      await sql`SELECT ${after.ends[0]!}::timestamptz = ${bound}::timestamptz AS same`.then((r) => r[0]!.same),
      true,
      `${after.ends[0]} is not the bound ${bound}`,
    );
  });

  it('counts nothing for an end whose hold is gone (expired, released or never granted)', async () => {
    const key = newKey();
    const { slot_at } = await reserve(key, 5, 60_000, 60_000);
    await sql`SELECT luma_guest_sync.release_rate_slot(${key}, ${slot_at}::timestamptz)`;
    await sql`SELECT luma_guest_sync.end_rate_slot(${key}, ${slot_at}::timestamptz, NULL)`;
    assert.deepEqual(await stored(key), { ends: [], holds: [] });
  });

  it('keeps only the last window’s ended requests in the budget’s row', async () => {
    // Every Luma request leaves its end in the row: an end a window old no longer counts,
    // and is dropped by the next reservation, or the row (read, sorted and rewritten by
    // every reservation of every replica) would grow by one entry per request forever.
    const key = newKey();
    const first = await reserve(key, 5, 100, 60_000);
    await sql`SELECT luma_guest_sync.end_rate_slot(${key}, ${first.slot_at}::timestamptz, NULL)`;
    assert.equal((await stored(key)).ends.length, 1);
    await delay(300);
    const next = await reserve(key, 5, 100, 60_000);
    assert.deepEqual(await stored(key), { ends: [], holds: [next.slot_at] });
  });

  it('after the limit is lowered, reserves the slot for when enough requests have left, not the first', async () => {
    const key = newKey();
    // Four requests ended under a limit of 4, 40, 30, 20 and 10 s ago, in a window of 60 s.
    // The limit is then lowered to 2 (a replica with the new setting): three of the four
    // must leave before fewer than 2 remain, so the slot is the third's, 40 s from now (the
    // first's, 20 s from now, would let 4 requests count against a limit of 2).
    await reserve(key, 4, 60_000, 60_000);
    const [clock] = await sql<{ base: string }[]>`SELECT clock_timestamp()::text AS base`;
    const base = clock!.base;
    await sql`
      UPDATE luma_guest_sync.rate_budget
      SET holds = '{}',
        starts = ARRAY[${base}::timestamptz - interval '40 seconds', ${base}::timestamptz - interval '30 seconds',
                       ${base}::timestamptz - interval '20 seconds', ${base}::timestamptz - interval '10 seconds']
      WHERE "key" = ${key}`;
    const next = await reserve(key, 2, 60_000, 60_000);
    assert.ok(next.slot_at, 'every leaving time is known: a slot is reserved');
    const [gap] = await sql<{ ms: number }[]>`
      SELECT (extract(epoch FROM ${next.slot_at}::timestamptz - ${base}::timestamptz) * 1000)::int AS ms`;
    assert.equal(gap?.ms, 40_000, 'one window after the third of the four ended');
  });

  it('gives back a slot of one key only, even when another key holds one at the same time', async () => {
    const [mine, theirs] = [newKey(), newKey()];
    const { slot_at } = await reserve(mine, 5, 60_000, 60_000);
    await reserve(theirs, 5, 60_000, 60_000);
    await sql`UPDATE luma_guest_sync.rate_budget SET holds = ARRAY[${slot_at}::timestamptz] WHERE "key" = ${theirs}`;
    await sql`SELECT luma_guest_sync.release_rate_slot(${mine}, ${slot_at}::timestamptz)`;
    assert.deepEqual((await stored(mine)).holds, []);
    assert.equal((await stored(theirs)).holds.length, 1);
  });
});
