/**
 * The scheduler on a real cron: firings skipped, late and missed because the event loop
 * really was blocked. The same paths on a mocked clock, with every log field, are in
 * scheduler-edges.test.ts (the mutation group's file: this one takes seconds per run).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createScheduler } from '../../src/schedule/scheduler.ts';
import { captureLogger, waitFor } from '../support/sqs-queue.ts';

/**
 * Starts `scheduler` (cron every 3 s), then blocks the event loop from just before one of
 * its slots until `lateMs` after it, as a GC pause or a paused VM would: node-cron's timer
 * cannot fire until the block ends. Returns the slot. Every 3 s, so slots are epoch
 * multiples of 3,000 ms.
 */
async function blockAcrossSlot(scheduler: { start(): void }, lateMs: number): Promise<Date> {
  scheduler.start();
  for (;;) {
    const slot = Math.ceil((Date.now() + 600) / 3_000) * 3_000;
    await sleep(Math.max(0, slot - 300 - Date.now()));
    if (Date.now() >= slot - 50) continue; // woke too late to block before the slot: take the next
    while (Date.now() < slot + lateMs) {
      // busy: the event loop is blocked, as in a stop-the-world pause
    }
    return new Date(slot);
  }
}

describe('createScheduler', () => {
  it('hands each run the slot of the firing, not the wall clock', async () => {
    const slots: Date[] = [];
    const { log } = captureLogger();
    const scheduler = createScheduler({ cron: '0 3 * * *', log, enqueueOnce: async (slot) => void slots.push(slot) });
    await scheduler.tick(new Date('2031-06-01T03:00:01.250Z'));
    assert.deepEqual(
      slots.map((s) => s.toISOString()),
      ['2031-06-01T03:00:00.000Z'],
    );
  });

  it('logs and reports a failed run instead of throwing into node-cron', async () => {
    const { log, lines } = captureLogger();
    const errors: unknown[] = [];
    const scheduler = createScheduler({
      cron: '0 3 * * *',
      log,
      enqueueOnce: async () => {
        throw new Error('database down');
      },
      onError: (err) => errors.push(err),
    });
    await scheduler.tick(new Date('2031-06-01T03:00:00Z'));
    assert.equal(errors.length, 1);
    const line = lines.find((l) => l.msg === 'enqueue run failed');
    assert.equal(line?.slot, '2031-06-01T03:00:00.000Z');
  });

  it('skips, warns about and counts a firing that overlaps the previous run (driven by a real cron)', async () => {
    const { log, lines } = captureLogger();
    const runs: Date[] = [];
    const overlaps: Date[] = [];
    // The first run lasts until a later firing has been skipped: an overlap is certain, not
    // a matter of how long a sleep took on this machine.
    const { promise: overlapped, resolve: sawOverlap } = Promise.withResolvers<void>();
    const scheduler = createScheduler({
      cron: '* * * * * *', // every second
      log,
      enqueueOnce: async (slot) => {
        runs.push(slot);
        if (runs.length === 1) await overlapped;
      },
      onOverlap: (slot) => {
        overlaps.push(slot);
        sawOverlap();
      },
    });
    scheduler.start();
    await overlapped;
    await scheduler.stop({ graceMs: 30_000 });

    assert.ok(overlaps.length >= 1, `expected a skipped firing, saw ${overlaps.length}`);
    assert.ok(lines.some((l) => l.msg === 'enqueue run skipped: the previous run is still going' && l.level === 40));
    assert.ok(runs.length >= 1, `runs: ${runs.length}`);
    // A seconds field makes slots as fine as the expression: whole, distinct seconds.
    for (const slot of [...runs, ...overlaps]) assert.equal(slot.getUTCMilliseconds(), 0);
    const keys = [...runs, ...overlaps].map((slot) => slot.toISOString());
    assert.equal(new Set(keys).size, keys.length, `distinct slots: ${keys}`);
  });

  it('runs a firing that comes more than a second late once, late, with a warning naming the delay', async (t) => {
    const { log, lines } = captureLogger();
    const runs: string[] = [];
    const missed: Date[] = [];
    const scheduler = createScheduler({
      cron: '*/3 * * * * *',
      log,
      enqueueOnce: async (slot) => void runs.push(slot.toISOString()),
      onMissed: (slot) => missed.push(slot),
    });
    try {
      const slot = await blockAcrossSlot(scheduler, 2_300);
      const next = new Date(slot.getTime() + 3_000).toISOString();
      await waitFor(() => runs.includes(next), 10_000, 'the firing after the late one');
      assert.equal(runs.filter((r) => r === slot.toISOString()).length, 1, `the late slot ran once: ${runs}`);
      const late = lines.find((l) => l.msg === 'cron firing late: running it now');
      assert.equal(late?.level, 40);
      assert.equal(late?.slot, slot.toISOString());
      // A lower bound (it was blocked that long): a slower machine only makes it later.
      const lateness = Number(late?.lateMs);
      assert.ok(lateness >= 2_300, `late by ${lateness} ms`);
      t.diagnostic(`the late slot ran ${late?.lateMs} ms after it was due`);
      assert.deepEqual(missed, []);
    } finally {
      await scheduler.stop({ graceMs: 1_000 });
    }
  });

  it('reports and counts, without running, a firing later than the catch-up window', async () => {
    const { log, lines } = captureLogger();
    const runs: string[] = [];
    const missed: string[] = [];
    const scheduler = createScheduler({
      cron: '*/3 * * * * *',
      catchUpMs: 1_000,
      log,
      enqueueOnce: async (slot) => void runs.push(slot.toISOString()),
      onMissed: (slot) => missed.push(slot.toISOString()),
    });
    try {
      const slot = await blockAcrossSlot(scheduler, 2_300);
      await waitFor(() => missed.length > 0, 5_000, 'the missed slot to be reported');
      assert.deepEqual(missed, [slot.toISOString()]);
      assert.ok(!runs.includes(slot.toISOString()), 'not run');
      const line = lines.find((l) => l.msg.startsWith('cron slot missed'));
      assert.equal(line?.level, 40);
      assert.equal(line?.slot, slot.toISOString());
    } finally {
      await scheduler.stop({ graceMs: 1_000 });
    }
  });

  it('stop() waits for a run in progress within the grace', async () => {
    const { log } = captureLogger();
    let finished = false;
    const { promise: released, resolve: release } = Promise.withResolvers<void>();
    const scheduler = createScheduler({
      cron: '0 3 * * *',
      log,
      enqueueOnce: async () => {
        await released;
        finished = true;
      },
    });
    const run = scheduler.tick(new Date());
    const stopping = scheduler.stop({ graceMs: 60_000 });
    // The run ends only once stop() is waiting for it.
    release();
    await stopping;
    assert.equal(finished, true);
    await run;
  });

  it('stop() aborts a run that outlasts the grace', async () => {
    const { log } = captureLogger();
    let aborted = false;
    const scheduler = createScheduler({
      cron: '0 3 * * *',
      log,
      enqueueOnce: (_slot, signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        }),
    });
    const run = scheduler.tick(new Date());
    await scheduler.stop({ graceMs: 100 });
    assert.equal(aborted, true);
    await run;
  });
});
