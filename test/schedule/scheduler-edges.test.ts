/**
 * The scheduler driven deterministically: node-cron runs on a mocked clock (node:test's
 * mock timers for `Date` and `setTimeout`), so a firing is on time, late, overlapping or
 * missed because the test moved the clock that far, not because the machine was slow.
 * Covers start/stop, each kind of firing and its log line, failed runs and hooks that
 * throw, and shutdown while a run is going. scheduler.test.ts drives the same paths with
 * a real cron and a blocked event loop.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { deduplicationId } from '../../src/schedule/enqueue.ts';
import { createScheduler, type SchedulerOptions, slotOf, slotPrecisionOf } from '../../src/schedule/scheduler.ts';
import { captureLogger } from '../support/sqs-queue.ts';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const SLOT = Date.parse('2031-06-01T03:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 } as const;

/** Lets the promise chains a timer callback started (node-cron's and ours) run to their next wait. */
async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Mocks `Date` and `setTimeout` from `now` on; afterEach puts the real ones back. */
function clockAt(now: number) {
  mock.timers.reset();
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now });
}
/**
 * Moves the mocked clock by `ms` in one step (timers due meanwhile fire late, at the end).
 * Settles first, so a timer that pending promise chains are about to arm is armed now.
 */
async function advance(ms: number) {
  await settle();
  mock.timers.tick(ms);
  await settle();
}

/** A run that lasts until released; records its slot and signal. */
function heldRuns() {
  const runs: Array<{ slot: string; signal: AbortSignal; release: () => void }> = [];
  const enqueueOnce = (slot: Date, signal: AbortSignal) => {
    const { promise, resolve } = Promise.withResolvers<void>();
    runs.push({ slot: slot.toISOString(), signal, release: resolve });
    return promise;
  };
  return { runs, enqueueOnce };
}

function scheduler(options: Partial<SchedulerOptions> = {}) {
  const { log, lines } = captureLogger('trace');
  const runs: string[] = [];
  const created = createScheduler({
    cron: '0 3 * * *',
    log,
    enqueueOnce: async (slot) => void runs.push(slot.toISOString()),
    ...options,
  });
  const messages = (msg: string) => lines.filter((l) => l.msg === msg);
  const linesAtLeast = (level: number) => lines.filter((l) => l.level >= level);
  /** node-cron's own lines, which the scheduler's logger passes on marked with their source. */
  const nodeCronLines = () => lines.filter((l) => l.source === 'node-cron');
  return { scheduler: created, lines, runs, messages, linesAtLeast, nodeCronLines };
}

/** scheduler() whose runs last until the test releases them (heldRuns()). */
function heldScheduler(options: Partial<SchedulerOptions> = {}) {
  const held = heldRuns();
  return { ...scheduler({ enqueueOnce: held.enqueueOnce, ...options }), runs: held.runs };
}

afterEach(() => mock.timers.reset());

describe('slotOf and slotPrecisionOf', () => {
  it('truncates the scheduled time to the minute, in UTC', () => {
    assert.equal(slotOf(new Date('2031-06-01T03:00:42.123Z')).toISOString(), '2031-06-01T03:00:00.000Z');
    assert.equal(slotOf(new Date('2031-06-01T03:59:59.999Z')).toISOString(), '2031-06-01T03:59:00.000Z');
  });

  it('is as fine as the cron expression: a seconds field gives each second its own slot (and deduplication id)', () => {
    assert.equal(slotPrecisionOf('0 3 * * *'), 'minute');
    assert.equal(slotPrecisionOf(' */10 * * * * * '), 'second');
    const at = (iso: string) => slotOf(new Date(iso), slotPrecisionOf('*/10 * * * * *')).toISOString();
    assert.equal(at('2031-06-01T03:00:10.004Z'), '2031-06-01T03:00:10.000Z');
    assert.equal(at('2031-06-01T03:00:20.000Z'), '2031-06-01T03:00:20.000Z');
    const ids = ['03:00:10', '03:00:20'].map((t) => deduplicationId('evt', new Date(at(`2031-06-01T${t}.000Z`))));
    assert.notEqual(ids[0], ids[1], 'two firings within one minute are not duplicates of each other');
  });

  it('counts fields however many spaces or tabs separate them', () => {
    assert.equal(slotPrecisionOf('0  3 * * *'), 'minute');
    assert.equal(slotPrecisionOf('0\t3  *   * *'), 'minute');
    assert.equal(slotPrecisionOf(' */10  * * * * * '), 'second');
  });
});

describe('createScheduler on a mocked clock', () => {
  it('logs its start with the cron, UTC, the catch-up window and the next slot, under its component', () => {
    clockAt(SLOT - 5 * SECOND);
    const { scheduler: daily, lines } = scheduler();
    daily.start();
    const started = lines.find((l) => l.msg === 'scheduler started');
    assert.equal(started?.level, LEVEL.info);
    assert.equal(started?.component, 'Scheduler');
    assert.equal(started?.cron, '0 3 * * *');
    assert.equal(started?.timezone, 'UTC');
    assert.equal(started?.catchUpMs, HOUR);
    assert.equal(started?.next, iso(SLOT));
    daily.stopFiring();

    const { scheduler: narrow, lines: narrowLines } = scheduler({ catchUpMs: 5 * SECOND });
    narrow.start();
    assert.equal(narrowLines.find((l) => l.msg === 'scheduler started')?.catchUpMs, 5 * SECOND);
    narrow.stopFiring();
  });

  it('runs each slot once, on time and without a warning, however often start() is called', async () => {
    clockAt(SLOT - 5 * SECOND);
    const { scheduler: daily, runs, lines, linesAtLeast } = scheduler();
    daily.start();
    daily.start(); // a second call must not start a second cron (each slot would run twice)
    await advance(5 * SECOND);
    assert.deepEqual(runs, [iso(SLOT)]);
    await advance(DAY);
    assert.deepEqual(runs, [iso(SLOT), iso(SLOT + DAY)]);
    assert.deepEqual(linesAtLeast(LEVEL.warn), []);
    assert.equal(lines.filter((l) => l.msg === 'scheduler started').length, 1);
    await daily.stop();
  });

  it('fires nothing after stop(), and start() after stop() does not start it again', async () => {
    clockAt(SLOT - 5 * SECOND);
    const { scheduler: daily, runs } = scheduler();
    daily.start();
    await daily.stop();
    daily.start();
    await advance(5 * SECOND); // each slot on time: nothing is missed for being late
    await advance(DAY);
    assert.deepEqual(runs, []);
  });

  it('stopFiring() stops the cron while the run in progress goes on to its end', async () => {
    clockAt(SLOT - 5 * SECOND);
    const { runs, enqueueOnce } = heldRuns();
    let finished = 0;
    const { scheduler: everyMinute } = scheduler({
      cron: '* * * * *',
      enqueueOnce: (slot, signal) => enqueueOnce(slot, signal).then(() => void finished++),
    });
    everyMinute.start();
    await advance(5 * SECOND);
    assert.equal(runs.length, 1);
    everyMinute.stopFiring();
    everyMinute.stopFiring(); // idempotent
    runs[0]!.release();
    await advance(MINUTE);
    await advance(MINUTE);
    assert.equal(finished, 1, 'the run in progress ended normally');
    assert.equal(runs[0]!.signal.aborted, false);
    assert.equal(runs.length, 1, 'no slot fired after stopFiring()');
    await everyMinute.stop();
  });

  it('warns about a firing one second late or more, with the slot and the delay, and runs it', async () => {
    clockAt(SLOT + 999);
    const { scheduler: daily, runs, messages } = scheduler();
    await daily.tick(new Date(SLOT));
    assert.deepEqual(messages('cron firing late: running it now'), [], '999 ms is within node-cron’s own tolerance');

    mock.timers.setTime(SLOT + DAY + SECOND);
    await daily.tick(new Date(SLOT + DAY));
    const late = messages('cron firing late: running it now');
    assert.equal(late.length, 1);
    assert.equal(late[0]?.level, LEVEL.warn);
    assert.equal(late[0]?.component, 'Scheduler');
    assert.equal(late[0]?.slot, iso(SLOT + DAY));
    assert.equal(late[0]?.lateMs, SECOND);
    assert.deepEqual(runs, [iso(SLOT), iso(SLOT + DAY)]);
  });

  it('runs a firing the clock jumped past once, late, within the default window of one hour', async () => {
    clockAt(SLOT - 5 * SECOND);
    const { scheduler: daily, runs, messages } = scheduler();
    daily.start();
    await advance(5 * SECOND + HOUR); // exactly one hour late: still inside the window
    assert.deepEqual(runs, [iso(SLOT)]);
    assert.equal(messages('cron firing late: running it now')[0]?.lateMs, HOUR);
    await advance(MINUTE);
    assert.deepEqual(runs, [iso(SLOT)], 'run once, not again');
    await daily.stop();

    clockAt(SLOT - 5 * SECOND);
    const missed: string[] = [];
    const { scheduler: later, runs: laterRuns } = scheduler({ onMissed: (slot) => missed.push(slot.toISOString()) });
    later.start();
    await advance(5 * SECOND + HOUR + SECOND); // one second past the window
    assert.deepEqual(laterRuns, []);
    assert.deepEqual(missed, [iso(SLOT)]);
    await later.stop();
  });

  it('reports, counts and does not run a slot later than the catch-up window', async () => {
    clockAt(SLOT - 5 * SECOND);
    const missed: string[] = [];
    const {
      scheduler: daily,
      runs,
      messages,
      nodeCronLines,
    } = scheduler({
      catchUpMs: SECOND,
      onMissed: (slot) => missed.push(slot.toISOString()),
    });
    daily.start();
    await advance(5 * SECOND + 2_500);
    assert.deepEqual(runs, []);
    assert.deepEqual(missed, [iso(SLOT)]);
    const line = messages('cron slot missed: later than the catch-up window or overtaken by a newer slot');
    assert.equal(line.length, 1);
    assert.equal(line[0]?.level, LEVEL.warn);
    assert.equal(line[0]?.component, 'Scheduler');
    assert.equal(line[0]?.slot, iso(SLOT));
    assert.equal(line[0]?.lateMs, 2_500);
    assert.equal(line[0]?.catchUpMs, SECOND);
    assert.equal(nodeCronLines().length, 0, 'node-cron adds no warning of its own');
    // The next slot runs as usual.
    await advance(DAY - 2_500);
    assert.deepEqual(runs, [iso(SLOT + DAY)]);
    await daily.stop();
  });

  it('runs only the newest of several slots the clock jumped past and reports the older ones missed', async () => {
    clockAt(SLOT - 5 * SECOND);
    const missed: string[] = [];
    const { scheduler: everyTen, runs } = scheduler({
      cron: '*/10 * * * * *',
      onMissed: (slot) => missed.push(slot.toISOString()),
    });
    everyTen.start();
    await advance(5 * SECOND + 25 * SECOND); // 03:00:00, :10 and :20 have passed; now 03:00:25
    assert.deepEqual(missed, [iso(SLOT), iso(SLOT + 10 * SECOND)]);
    assert.deepEqual(runs, [iso(SLOT + 20 * SECOND)]);
    await everyTen.stop();
  });

  it('without an onMissed hook, a missed slot is logged and nothing fails', async () => {
    clockAt(SLOT - 5 * SECOND);
    const { scheduler: daily, messages, linesAtLeast } = scheduler({ catchUpMs: SECOND });
    daily.start();
    await advance(5 * SECOND + 2_500);
    assert.equal(messages('cron slot missed: later than the catch-up window or overtaken by a newer slot').length, 1);
    assert.deepEqual(linesAtLeast(LEVEL.error), []);
    await daily.stop();
  });

  it('skips, warns about and counts a firing while the previous run is still going; node-cron’s own line is debug', async () => {
    clockAt(SLOT - 5 * SECOND);
    const overlaps: string[] = [];
    const {
      scheduler: everyMinute,
      runs,
      messages,
      nodeCronLines,
    } = heldScheduler({
      cron: '* * * * *',
      onOverlap: (slot) => overlaps.push(slot.toISOString()),
    });
    everyMinute.start();
    await advance(5 * SECOND);
    assert.deepEqual(
      runs.map((r) => r.slot),
      [iso(SLOT)],
    );
    await advance(MINUTE);
    assert.deepEqual(overlaps, [iso(SLOT + MINUTE)]);
    assert.equal(runs.length, 1, 'skipped, not run beside the first');
    const skipped = messages('enqueue run skipped: the previous run is still going');
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0]?.level, LEVEL.warn);
    assert.equal(skipped[0]?.component, 'Scheduler');
    assert.equal(skipped[0]?.slot, iso(SLOT + MINUTE));
    // node-cron's warning repeats ours: kept, at debug, marked as its own.
    const own = nodeCronLines();
    assert.equal(own.length, 1);
    assert.equal(own[0]?.level, LEVEL.debug);
    assert.equal(own[0]?.component, 'Scheduler');
    assert.match(String(own[0]?.msg), /still running/);

    runs[0]!.release();
    await advance(MINUTE);
    assert.deepEqual(
      runs.map((r) => r.slot),
      [iso(SLOT), iso(SLOT + 2 * MINUTE)],
    );
    runs[1]!.release();
    await everyMinute.stop();
  });

  it('without an onOverlap hook, a skipped firing is logged and nothing fails', async () => {
    clockAt(SLOT - 5 * SECOND);
    const { scheduler: everyMinute, runs, messages, linesAtLeast } = heldScheduler({ cron: '* * * * *' });
    everyMinute.start();
    await advance(5 * SECOND);
    await advance(MINUTE);
    assert.equal(messages('enqueue run skipped: the previous run is still going').length, 1);
    assert.deepEqual(linesAtLeast(LEVEL.error), []);
    runs[0]!.release();
    await everyMinute.stop();
  });

  it('logs a failed run as an error with the slot, tells onError, and the next slot runs', async () => {
    clockAt(SLOT - 5 * SECOND);
    const errors: Array<[unknown, string]> = [];
    let calls = 0;
    const {
      scheduler: daily,
      messages,
      nodeCronLines,
    } = scheduler({
      enqueueOnce: async () => {
        calls++;
        if (calls === 1) throw new Error('database down');
      },
      onError: (err, slot) => errors.push([err, slot.toISOString()]),
    });
    daily.start();
    await advance(5 * SECOND);
    assert.equal(errors.length, 1);
    assert.equal((errors[0]![0] as Error).message, 'database down');
    assert.equal(errors[0]![1], iso(SLOT));
    const failed = messages('enqueue run failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0]?.level, LEVEL.error);
    assert.equal(failed[0]?.slot, iso(SLOT));
    assert.equal((failed[0]?.err as { message?: string })?.message, 'database down');
    assert.equal(nodeCronLines().length, 0, 'caught before node-cron logs it again');
    await advance(DAY);
    assert.equal(calls, 2);
    await daily.stop();
  });

  it('a failed run without an onError hook is logged and tick() still resolves', async () => {
    clockAt(SLOT);
    const { scheduler: daily, messages } = scheduler({
      enqueueOnce: async () => {
        throw new Error('database down');
      },
    });
    await daily.tick(new Date(SLOT));
    assert.equal(messages('enqueue run failed').length, 1);
  });

  it('a hook that throws reaches the log as node-cron’s error, the cron goes on, and shutdown still succeeds', async () => {
    clockAt(SLOT - 5 * SECOND);
    let calls = 0;
    const {
      scheduler: daily,
      lines,
      nodeCronLines,
    } = scheduler({
      enqueueOnce: async () => {
        calls++;
        throw new Error('database down');
      },
      onError: () => {
        throw new Error('metrics hook broke');
      },
    });
    daily.start();
    await advance(5 * SECOND);
    const reported = nodeCronLines();
    assert.equal(reported.length, 1, JSON.stringify(lines));
    assert.equal(reported[0]?.level, LEVEL.error);
    assert.equal(reported[0]?.msg, 'node-cron error');
    assert.equal(reported[0]?.component, 'Scheduler');
    assert.equal((reported[0]?.err as { message?: string })?.message, 'metrics hook broke');
    await advance(DAY);
    assert.equal(calls, 2, 'the next slot still runs');
    await daily.stop({ graceMs: 0 });
  });

  it('an onOverlap hook that throws is logged as node-cron’s error, with the error', async () => {
    clockAt(SLOT - 5 * SECOND);
    const {
      scheduler: everyMinute,
      runs,
      lines,
    } = heldScheduler({
      cron: '* * * * *',
      onOverlap: () => {
        throw new Error('counter broke');
      },
    });
    everyMinute.start();
    await advance(5 * SECOND);
    await advance(MINUTE);
    const errors = lines.filter((l) => l.level === LEVEL.error);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.source, 'node-cron');
    assert.equal((errors[0]?.err as { message?: string })?.message, 'counter broke');
    runs[0]!.release();
    await everyMinute.stop();
  });
});

describe('stop() with a run going', () => {
  it('returns at once when no run is going', async () => {
    clockAt(SLOT);
    const { scheduler: daily, linesAtLeast } = scheduler();
    daily.start();
    await daily.stop(); // no timer has to fire for it to return
    await daily.stop(); // idempotent
    assert.deepEqual(linesAtLeast(LEVEL.warn), []);
  });

  it('waits for a run that ends within the grace, without aborting it or warning', async () => {
    clockAt(SLOT);
    const { scheduler: daily, runs, linesAtLeast } = heldScheduler();
    const run = daily.tick(new Date(SLOT));
    let stopped = false;
    const stopping = daily.stop({ graceMs: MINUTE }).then(() => {
      stopped = true;
    });
    await advance(MINUTE - 1);
    assert.equal(stopped, false, 'still waiting for the run');
    runs[0]!.release();
    await stopping;
    await run;
    assert.equal(runs[0]!.signal.aborted, false);
    assert.deepEqual(linesAtLeast(LEVEL.warn), []);
  });

  it('leaves no grace timer behind once the run ended, so the process can exit at once', async () => {
    // Real timers: what matters is the timer node would wait for before exiting.
    const { scheduler: daily, runs } = heldScheduler();
    const run = daily.tick(new Date());
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timeouts();
    const stopping = daily.stop({ graceMs: 10 * MINUTE });
    await settle();
    assert.equal(timeouts(), before + 1, 'the grace timer is armed while stop() waits');
    runs[0]!.release();
    await stopping;
    await run;
    assert.equal(timeouts(), before);
  });

  it('aborts a run still going when the grace runs out, warns with the grace, and waits for the run to end', async () => {
    clockAt(SLOT);
    const { scheduler: daily, runs, messages } = heldScheduler();
    const run = daily.tick(new Date(SLOT));
    let stopped = false;
    const stopping = daily.stop({ graceMs: 30 * SECOND }).then(() => {
      stopped = true;
    });
    await advance(30 * SECOND - 1);
    assert.equal(runs[0]!.signal.aborted, false);
    assert.deepEqual(messages('enqueue run still going at shutdown: aborting it'), []);
    await advance(1);
    assert.equal(runs[0]!.signal.aborted, true);
    const warned = messages('enqueue run still going at shutdown: aborting it');
    assert.equal(warned.length, 1);
    assert.equal(warned[0]?.level, LEVEL.warn);
    assert.equal(warned[0]?.component, 'Scheduler');
    assert.equal(warned[0]?.graceMs, 30 * SECOND);
    assert.equal(stopped, false, 'stop() waits for the aborted run to wind down');
    runs[0]!.release();
    await stopping;
    await run;
  });

  it('gives a run ten seconds by default, and the run sees why it was aborted', async () => {
    clockAt(SLOT);
    const { scheduler: daily, runs } = heldScheduler();
    const run = daily.tick(new Date(SLOT));
    const stopping = daily.stop();
    await advance(10 * SECOND - 1);
    assert.equal(runs[0]!.signal.aborted, false);
    await advance(1);
    assert.equal(runs[0]!.signal.aborted, true);
    assert.equal((runs[0]!.signal.reason as Error).message, 'scheduler stopped');
    runs[0]!.release();
    await stopping;
    await run;
  });

  it('waits for the newest run even after an older one ended (tick() called while a run was going)', async () => {
    clockAt(SLOT);
    const { scheduler: daily, runs } = heldScheduler();
    const older = daily.tick(new Date(SLOT));
    const newer = daily.tick(new Date(SLOT + MINUTE));
    runs[0]!.release();
    await older;
    const stopping = daily.stop({ graceMs: MINUTE });
    await advance(MINUTE);
    assert.equal(runs[1]!.signal.aborted, true, 'the run still going was found and aborted');
    runs[1]!.release();
    await stopping;
    await newer;
  });

  it('an older run ending after a newer one settles normally and leaves nothing for stop() to wait for', async () => {
    clockAt(SLOT);
    const { scheduler: daily, runs, linesAtLeast } = heldScheduler();
    const older = daily.tick(new Date(SLOT));
    const newer = daily.tick(new Date(SLOT + MINUTE));
    runs[1]!.release();
    await newer;
    runs[0]!.release();
    await older;
    await daily.stop({ graceMs: MINUTE });
    assert.deepEqual(linesAtLeast(LEVEL.warn), []);
  });
});
