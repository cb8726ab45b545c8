/**
 * The shared budget's side in this process, against a scripted database: the calls it
 * makes (and with what), the turns its callers take, its waits, and what it does when a
 * call or a sleep fails. What the database functions grant is shared-budget.test.ts's,
 * against PostgreSQL.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sql } from '../../src/db/client.ts';
import { DatabaseLimitError } from '../../src/db/database-limits.ts';
import { errorKind } from '../../src/errors.ts';
import { BUDGET_STAGE, createSharedBudget, type SharedBudgetOptions } from '../../src/providers/shared-budget.ts';
import { captureLogs, rejectionOf } from './support.ts';

interface Call {
  fn: 'reserve' | 'end' | 'release';
  values: unknown[];
}
interface ReserveRow {
  wait_ms: number;
  slot_at: string | null;
  asked_ms: number;
}

/**
 * A database answering each reserve call with the next of `answers` (a row, an error, or a
 * promise of either), and end and release calls with `onEnd` / `onRelease`.
 */
function scriptedDatabase(
  answers: Array<ReserveRow | Error | Promise<ReserveRow>>,
  on: { end?: () => Promise<unknown>; release?: () => Promise<unknown> } = {},
) {
  const calls: Call[] = [];
  const sql = (strings: TemplateStringsArray, ...values: unknown[]) => {
    const text = strings.join('?');
    if (text.includes('reserve_rate_slot')) {
      calls.push({ fn: 'reserve', values });
      const answer = answers.shift();
      if (answer === undefined) throw new Error('the script has no answer for this reserve call');
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer).then((row) => [row]);
    }
    const fn = text.includes('end_rate_slot') ? 'end' : 'release';
    calls.push({ fn, values });
    return (fn === 'end' ? on.end : on.release)?.() ?? Promise.resolve([]);
  };
  return { sql: sql as unknown as Sql, calls, reserves: () => calls.filter((c) => c.fn === 'reserve') };
}

const granted = (slotAt: string, askedMs = 0, waitMs = 0): ReserveRow => ({
  wait_ms: waitMs,
  slot_at: slotAt,
  asked_ms: askedMs,
});
const refused = (waitMs: number): ReserveRow => ({ wait_ms: waitMs, slot_at: null, asked_ms: 0 });

/** Lets every promise callback and I/O callback queued so far run. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** A sleep that ends only when its signal aborts, recording what it was asked. */
function sleepUntilWoken() {
  const waits: number[] = [];
  const sleep = (ms: number, signal?: AbortSignal) => {
    waits.push(ms);
    return new Promise<void>((_resolve, reject) => {
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  };
  return { sleep, waits };
}

function budget(sql: Sql, options: Partial<SharedBudgetOptions> = {}) {
  return createSharedBudget({ sql, key: 'luma:k', perMinute: 3, windowMs: 1_000, holdMs: 5_000, ...options });
}

describe('the shared budget in its process', () => {
  it('asks the database for a slot with its key, limit, window plus guard, and hold', async () => {
    const db = scriptedDatabase([granted('S1')]);
    await budget(db.sql, { guardMs: 250 }).acquire();
    assert.deepEqual(db.reserves()[0]?.values, ['luma:k', 3, 1_250, 5_000]);
  });

  it('refuses a window that is not a whole number of at least 1, and takes one of 1', () => {
    const { sql } = scriptedDatabase([]);
    for (const windowMs of [0, -1_000, 1.5]) {
      assert.throws(() => budget(sql, { windowMs }), /windowMs must be a whole number of at least 1/, `${windowMs}`);
    }
    assert.doesNotThrow(() => budget(sql, { windowMs: 1 }));
  });

  it('lets one caller at a time talk to the database, in arrival order', async () => {
    const answers = [Promise.withResolvers<ReserveRow>(), Promise.withResolvers<ReserveRow>()];
    const db = scriptedDatabase([answers[0]!.promise, answers[1]!.promise, granted('S3')]);
    const shared = budget(db.sql);
    const order: string[] = [];
    const callers = ['a', 'b', 'c'].map((name) => shared.acquire().then(() => order.push(name)));
    await settle();
    assert.equal(db.reserves().length, 1, 'the others wait for their turn');
    answers[0]!.resolve(granted('S1'));
    await settle();
    assert.equal(db.reserves().length, 2);
    answers[1]!.resolve(granted('S2'));
    await Promise.all(callers);
    assert.deepEqual(order, ['a', 'b', 'c']);
  });

  it('takes a caller that gives up while waiting for its turn out of the line; those behind it go on', async () => {
    const first = Promise.withResolvers<ReserveRow>();
    const db = scriptedDatabase([first.promise, granted('S2')]);
    const shared = budget(db.sql);
    const a = shared.acquire();
    const giveUp = new AbortController();
    const giveUpToo = new AbortController();
    const b = rejectionOf(shared.acquire(giveUp.signal));
    const c = rejectionOf(shared.acquire(giveUpToo.signal));
    const d = shared.acquire();
    await settle();
    // The second in line first, then the first.
    giveUpToo.abort(new Error('second gave up'));
    giveUp.abort(new Error('first gave up'));
    assert.equal((await c).message, 'second gave up');
    assert.equal((await b).message, 'first gave up');
    first.resolve(granted('S1'));
    await a;
    await settle();
    assert.equal(db.reserves().length, 2, 'the caller behind those that gave up got its turn');
    await d;
  });

  it('reports a request’s end once, bounded by the fastest call of the window on the database’s clock', async () => {
    let clock = 0;
    // The first call reached the database 4 990 ms "after" it was made (clocks' offset
    // plus its delay), the second 5 000 ms: the first bounds the second's end better.
    const db = scriptedDatabase([granted('S1', 100 + 4_990), granted('S2', 200 + 5_000)]);
    const shared = budget(db.sql, { now: () => clock, windowMs: 10_000 });
    clock = 100;
    await shared.acquire();
    clock = 200;
    const done = await shared.acquire();
    clock = 300;
    done();
    done();
    await settle();
    const ends = db.calls.filter((c) => c.fn === 'end');
    assert.equal(ends.length, 1, 'one end call however often the request reports its end');
    const [key, slotAt, bound] = ends[0]!.values as [string, string, number];
    assert.deepEqual([key, slotAt], ['luma:k', 'S2']);
    // 300 + 4 990 + 100 ppm of the first call's 200 ms age + 1 ms.
    assert.ok(Math.abs(bound - (300 + 4_990 + 0.02 + 1)) < 1e-9, `${bound}`);
  });

  it('bounds a request’s end by its own clock when none is given', async () => {
    const db = scriptedDatabase([granted('S1', Date.now())]);
    const done = await budget(db.sql).acquire();
    done();
    await settle();
    const bound = db.calls.find((c) => c.fn === 'end')?.values[2];
    assert.equal(typeof bound, 'number');
    assert.ok(Number.isFinite(bound), `${bound}`);
  });

  it('sends at once on a slot granted now, and sleeps until a slot reserved for later (a millisecond more)', async () => {
    const waits: number[] = [];
    const sleep = async (ms: number) => {
      waits.push(ms);
    };
    const db = scriptedDatabase([granted('S1', 0, 0), granted('S2', 0, 40)]);
    const shared = budget(db.sql, { sleep });
    await shared.acquire();
    assert.deepEqual(waits, []);
    await shared.acquire();
    assert.deepEqual(waits, [41]);
  });

  it('wakes a caller waiting for a request in flight once that request’s end is recorded', async () => {
    const { sleep, waits } = sleepUntilWoken();
    const { log, entries } = captureLogs();
    const db = scriptedDatabase([granted('S1'), refused(60_000), granted('S2')]);
    const shared = budget(db.sql, { sleep, log });
    const done = await shared.acquire();
    let second = false;
    const waiting = shared.acquire().then(() => {
      second = true;
    });
    await settle();
    // Asked again after a tenth of the window at the latest, unless woken first.
    assert.deepEqual(waits, [100]);
    assert.deepEqual(
      entries()
        .filter((e) => e.msg === 'waiting for the shared luma request budget')
        .map(({ waitMs, perMinute, windowMs }) => ({ waitMs, perMinute, windowMs })),
      [{ waitMs: 100, perMinute: 3, windowMs: 1_000 }],
    );
    assert.equal(second, false);
    done();
    await settle();
    await waiting;
    assert.equal(db.reserves().length, 3);
  });

  it('fails a caller whose wait fails for a reason of its own, and gives back a slot it reserved', async () => {
    const broken = new Error('the timer broke');
    const sleep = async () => {
      throw broken;
    };
    const waiting = scriptedDatabase([refused(500), granted('S9')]);
    assert.equal(await rejectionOf(budget(waiting.sql, { sleep }).acquire()), broken);
    assert.equal(waiting.reserves().length, 1, 'not asked again');

    const reserved = scriptedDatabase([granted('S1', 0, 40)]);
    assert.equal(await rejectionOf(budget(reserved.sql, { sleep }).acquire()), broken);
    await settle();
    assert.deepEqual(
      reserved.calls.filter((c) => c.fn === 'release').map((c) => c.values),
      [['luma:k', 'S1']],
    );
  });

  it('warns with the reason alone when reporting an end or giving back a slot fails, and goes on', async () => {
    const { log, entries } = captureLogs();
    const lost = () => Promise.reject(Object.assign(new Error('connection lost'), { query: 'SELECT secret' }));
    const { sleep } = sleepUntilWoken();
    const db = scriptedDatabase([granted('S1'), granted('S2', 0, 40)], { end: lost, release: lost });
    const shared = budget(db.sql, { log, sleep });
    (await shared.acquire())();
    // Given up during the sleep before its reserved slot: the slot is given back.
    const giveUp = new AbortController();
    const gaveUp = rejectionOf(shared.acquire(giveUp.signal));
    await settle();
    giveUp.abort(new Error('gave up'));
    assert.equal((await gaveUp).message, 'gave up');
    await settle();
    const warnings = entries().filter((e) => e.level === 40);
    assert.deepEqual(
      warnings.map((e) => e.reason),
      ['connection lost', 'connection lost'],
    );
    assert.ok(!JSON.stringify(warnings).includes('secret'));
  });

  it('without a log, drops a failed end report quietly (no unhandled rejection)', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const db = scriptedDatabase([granted('S1')], { end: () => Promise.reject(new Error('connection lost')) });
      (await budget(db.sql).acquire())();
      await settle();
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('says the budget is unavailable, keeping the driver’s error as the cause, and to migrate when its objects are missing', async () => {
    for (const code of ['42883', '42P01', '3F000', '08006']) {
      const driver = Object.assign(new Error('driver says no'), { code });
      const err = await rejectionOf(budget(scriptedDatabase([driver]).sql).acquire());
      assert.match(err.message, /^The shared Luma request budget is unavailable/);
      assert.equal(err.cause, driver);
      assert.equal(/run db:migrate/.test(err.message), code !== '08006', code);
    }
    const down = Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    const err = await rejectionOf(budget(scriptedDatabase([down]).sql).acquire());
    assert.equal(err.message, 'The shared Luma request budget is unavailable');
  });

  it('counts a connection reset under its statement as a database failure, not unexpected', async () => {
    // As postgres.js passes it on: Node's own error, with the system call that failed (the
    // CI soak's PostgreSQL restart, 2026-12-06, recorded such a sync as `unexpected`).
    for (const syscall of ['read', 'write', 'connect']) {
      const reset = Object.assign(new Error(`${syscall} ECONNRESET`), { errno: -104, code: 'ECONNRESET', syscall });
      const err = await rejectionOf(budget(scriptedDatabase([reset]).sql).acquire());
      assert.match(err.message, /^The shared Luma request budget is unavailable/);
      assert.equal(errorKind(err), 'database', syscall);
      assert.equal((err.cause as Error).cause, reset, 'the driver’s error kept');
    }
  });

  it('tells a read-only server or a limit as the sync’s statements do: its kind, and the stage', async () => {
    const server = (code: string, message: string) =>
      Object.assign(new Error(message), { name: 'PostgresError', code });
    for (const [code, kind, contention] of [
      ['25006', 'read_only', false],
      ['55P03', 'lock_timeout', true],
    ] as const) {
      const driver = server(code, 'refused');
      const err = await rejectionOf(budget(scriptedDatabase([driver]).sql).acquire());
      assert.ok(err instanceof DatabaseLimitError, code);
      assert.deepEqual([err.kind, err.stage, err.contention, err.cause], [kind, BUDGET_STAGE, contention, driver]);
      assert.match(err.message, /reserving a Luma request in the shared budget/);
    }
  });
});
