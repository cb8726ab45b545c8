import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createDatabase, type Sql } from '../../src/db/client.ts';
import type { RequestBudget } from '../../src/providers/rate-limit.ts';
import { createSharedBudget, sharedBudgetKey } from '../../src/providers/shared-budget.ts';
import { logBudgetStarts, loggedBudgetStarts } from '../support/budget-log.ts';
import { createTestDatabase } from '../support/db.ts';
import { createGate } from '../support/faults.ts';
import { busiestWindow } from '../support/windows.ts';

/** The logged starts of `key`, in ms after the first, on the database's clock. */
async function startsOf(sql: Sql, key: string): Promise<number[]> {
  return (await loggedBudgetStarts(sql, key)).map((s) => s.ms);
}

/** `loops` concurrent callers, each acquiring until `total` starts were granted between them. */
async function drain(budget: RequestBudget, loops: number, shared: { granted: number; total: number }) {
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (shared.granted < shared.total) {
        const done = await budget.acquire();
        shared.granted++;
        done(); // an instant answer
      }
    }),
  );
}

const database = await createTestDatabase({ label: 'shared_budget' });
const bare = await createTestDatabase({ migrate: false, label: 'shared_budget_bare' });
await logBudgetStarts(database.sql);
/** Separate pools, as separate replicas would have. */
const replicas = [1, 2, 3].map(() => createDatabase({ url: database.url, poolMax: 2 }));
after(() => Promise.all(replicas.map((r) => r.close())));
let keys = 0;

/** Polls `check` until it holds; the deadline only bounds a hang, it times nothing. */
async function waitUntil(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
const newKey = () => sharedBudgetKey('LUMA', `test-key-${++keys}-${Math.random()}`);

describe('createSharedBudget', () => {
  it('never grants more than perMinute starts in any window across replicas on separate connections', async () => {
    const key = newKey();
    const perMinute = 10;
    const windowMs = 400;
    // Three replicas with three syncs each, plus a second budget object on one pool.
    const budgets = [...replicas, replicas[0]!].map((r) =>
      createSharedBudget({ sql: r.sql, key, perMinute, windowMs }),
    );
    const shared = { granted: 0, total: 45 };
    await Promise.all(budgets.map((budget) => drain(budget, 3, shared)));

    const starts = await startsOf(database.sql, key);
    // Every caller that entered the loop before the total was reached got its start.
    assert.ok(starts.length >= 45 && starts.length <= 45 + budgets.length * 3, `${starts.length} starts`);
    assert.equal(starts.length, shared.granted);
    assert.equal(busiestWindow(starts, windowMs), perMinute, 'the busiest window holds exactly the budget');
    // 45+ starts, 10 in any window, on the database's clock: the first 10 at once, then
    // at least four more windows before the last (a lower bound no machine speed can break).
    assert.ok(starts.at(-1)! >= 4 * windowMs, `the last start came ${starts.at(-1)} ms after the first`);
  });

  it('counts a start committed while another caller waited for the key', async () => {
    // The race a lone "lock, count, insert" statement loses: its snapshot predates the wait.
    const key = newKey();
    const [holder, waiter] = [replicas[0]!.sql, replicas[1]!.sql];
    await createSharedBudget({ sql: holder, key, perMinute: 2, windowMs: 60_000 }).acquire();
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const holding = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const first = holder.begin(async (tx) => {
      const [row] = await tx<{ wait: number }[]>`
        SELECT wait_ms AS wait FROM luma_guest_sync.reserve_rate_slot(${key}, 2, 60000, 60000)`;
      locked();
      await held;
      return row!.wait;
    });
    // The holder's transaction has recorded its start and holds the key's row.
    await holding;
    // postgres.js sends a query when it is awaited; then() sends it now.
    const second = Promise.resolve(
      waiter<
        { wait: number }[]
      >`SELECT wait_ms AS wait FROM luma_guest_sync.reserve_rate_slot(${key}, 2, 60000, 60000)`,
    );
    await waitUntil(async () => {
      const [row] = await database.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE wait_event_type = 'Lock' AND query LIKE '%reserve_rate_slot%'`;
      return row!.n === 1;
    });
    release();
    assert.equal(await first, 0, 'the holder got the second start');
    const [row] = await second;
    assert.ok(row!.wait > 59_000, `the waiter was told to wait ${row!.wait} ms`);
    assert.equal((await startsOf(database.sql, key)).length, 2);
  });

  it('grants every caller its start, within the budget, when callers want more than it allows', async (t) => {
    // How much of the budget is used is a figure of speed: `npm run bench` measures it
    // (scenario 4). Here: nobody is starved and no window is overfilled.
    const key = newKey();
    const perMinute = 20;
    const windowMs = 1_000;
    const budgets = replicas.map((r) => createSharedBudget({ sql: r.sql, key, perMinute, windowMs }));
    const shared = { granted: 0, total: 85 };
    await Promise.all(budgets.map((budget) => drain(budget, 4, shared)));

    const starts = await startsOf(database.sql, key);
    assert.equal(starts.length, shared.granted);
    assert.ok(starts.length >= 85, `${starts.length} starts`);
    const busiest = busiestWindow(starts, windowMs);
    assert.ok(busiest <= perMinute, `the busiest window held ${busiest} starts`);
    const inThreeWindows = starts.filter((at) => at < 3 * windowMs).length;
    t.diagnostic(`${inThreeWindows} of ${3 * perMinute} possible starts in three windows`);
  });

  it('counts a request until one window after it ended, not after it was granted (it reached Luma late)', async () => {
    const key = newKey();
    const windowMs = 300;
    const budget = createSharedBudget({ sql: replicas[0]!.sql, key, perMinute: 1, windowMs, holdMs: 60_000 });
    const done = await budget.acquire();
    let granted = false;
    const next = budget.acquire(AbortSignal.timeout(60_000)).then((d) => {
      granted = true;
      return d;
    });
    // Two windows after the grant, the request is still in flight: counted from its grant it
    // would have left the window already.
    await delay(2 * windowMs);
    assert.equal(granted, false, 'no slot while the request is in flight');
    const endedAt = performance.now();
    done();
    (await next)();
    const after = performance.now() - endedAt;
    assert.ok(after >= windowMs - 5, `granted ${after.toFixed(0)} ms after the end, before a window had passed`);
    assert.equal((await startsOf(database.sql, key)).length, 2);
  });

  it('never lets more than perMinute requests reach the server in any window, across replicas, however late they reach it or their answers come', async () => {
    // The server counts arrivals. Every other request reaches it 200 ms after its slot (a
    // starved event loop), every third answer takes 150 ms more: counted from its slot, a
    // late request and the prompt one a window after it would share the server's window.
    const key = newKey();
    const perMinute = 5;
    const windowMs = 400;
    const budgets = replicas.map((r) => createSharedBudget({ sql: r.sql, key, perMinute, windowMs }));
    const arrivals: number[] = [];
    let requests = 0;
    await Promise.all(
      budgets.flatMap((budget) =>
        [1, 2, 3].map(async () => {
          while (requests < 30) {
            const done = await budget.acquire();
            const n = requests++;
            await delay(n % 2 ? 200 : 0);
            arrivals.push(performance.now());
            await delay(n % 3 ? 0 : 150);
            done();
          }
        }),
      ),
    );
    assert.ok(arrivals.length >= 30);
    const busiest = busiestWindow(arrivals, windowMs);
    assert.ok(busiest <= perMinute, `the server saw ${busiest} requests in one window`);
  });

  it('counts a request as ended no sooner than it did, even when its slot waited for the key', async () => {
    // The end is bounded by when the slot's call reached the database plus the time measured
    // from sending it. Measured from the call's answer instead, a slot that waited 400 ms for
    // the key's lock would count its request as ended up to 400 ms before it did.
    const key = newKey();
    const windowMs = 300;
    await database.sql`INSERT INTO luma_guest_sync.rate_budget ("key") VALUES (${key})`;
    const budget = createSharedBudget({ sql: replicas[0]!.sql, key, perMinute: 1, windowMs });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const holding = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const lock = replicas[1]!.sql.begin(async (tx) => {
      await tx`SELECT 1 FROM luma_guest_sync.rate_budget WHERE "key" = ${key} FOR UPDATE`;
      locked();
      await released;
    });
    await holding;
    const first = budget.acquire();
    await waitUntil(async () => {
      const [row] = await database.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE wait_event_type = 'Lock' AND query LIKE '%reserve_rate_slot%'`;
      return row!.n === 1;
    });
    await delay(400);
    release();
    await lock;
    const done = await first;
    await delay(100); // it reaches the server late, and is answered at once
    const firstArrival = performance.now();
    done();
    await budget.acquire();
    const gap = performance.now() - firstArrival;
    assert.ok(gap >= windowMs, `the next request reached the server ${gap.toFixed(0)} ms after the first`);
  });

  it('counts a request whose end never came (its process died) as ended holdMs after its grant', async () => {
    const key = newKey();
    const budget = createSharedBudget({ sql: replicas[1]!.sql, key, perMinute: 1, windowMs: 200, holdMs: 300 });
    const started = performance.now();
    await budget.acquire(); // never ended
    // Unbounded, this would wait forever; the deadline only bounds that hang.
    await budget.acquire(AbortSignal.timeout(60_000));
    assert.ok(performance.now() - started >= 300 + 200 - 10, 'not before the hold and a window had passed');
  });

  it('keeps the budgets of different keys apart', async () => {
    const [a, b] = [newKey(), newKey()];
    const windowMs = 60_000;
    const budgetA = createSharedBudget({ sql: replicas[0]!.sql, key: a, perMinute: 5, windowMs });
    const budgetB = createSharedBudget({ sql: replicas[1]!.sql, key: b, perMinute: 5, windowMs });
    // A's whole budget first. Were the keys shared, B's starts would then wait out the rest of
    // A's minute; a generous deadline well inside that minute turns such a wait into a failure.
    for (let i = 0; i < 5; i++) await budgetA.acquire();
    const withinAsMinute = AbortSignal.timeout(30_000);
    for (let i = 0; i < 5; i++) await budgetB.acquire(withinAsMinute);
    assert.equal((await startsOf(database.sql, a)).length, 5);
    assert.equal((await startsOf(database.sql, b)).length, 5);

    // A is exhausted for a minute; B's exhaustion is its own.
    const timeout = AbortSignal.timeout(300);
    await assert.rejects(budgetA.acquire(timeout), (err: Error) => err.name === 'TimeoutError');
  });

  it('rejects with the signal reason when aborted while waiting, and records no start', async () => {
    const key = newKey();
    const firstSleeps = createGate();
    const budget = createSharedBudget({
      sql: replicas[0]!.sql,
      key,
      perMinute: 2,
      windowMs: 60_000,
      // The real wait, announced: the database has answered "wait about a minute".
      sleep: (ms, signal) => {
        firstSleeps.open();
        return delay(ms, undefined, { signal });
      },
    });
    await budget.acquire();
    await budget.acquire();

    const first = new AbortController();
    const second = new AbortController();
    // `first` sleeps out the database's answer; `second` waits behind it in the process queue.
    const waitingFirst = budget.acquire(first.signal);
    const waitingSecond = budget.acquire(second.signal);
    await firstSleeps.opened;
    // Unaborted, both would wait about a minute and then be granted: rejecting is the proof.
    second.abort(new Error('second gave up'));
    first.abort(new Error('first gave up'));
    // Both observed at once: either may reject while the other is awaited.
    await Promise.all([assert.rejects(waitingSecond, /second gave up/), assert.rejects(waitingFirst, /first gave up/)]);

    assert.equal((await startsOf(database.sql, key)).length, 2);
    const aborted = AbortSignal.abort(new Error('already aborted'));
    await assert.rejects(budget.acquire(aborted), /already aborted/);
    // The queue is free again: another key-holder's next acquire waits, it does not hang forever.
    await assert.rejects(budget.acquire(AbortSignal.timeout(100)), (err: Error) => err.name === 'TimeoutError');
  });

  it('gives back a reserved slot its caller gave up on before sending, and nothing else', async () => {
    const key = newKey();
    // A minute's window: the slot one window after the first request's end is still ahead
    // however late the next caller reserves it. (With a window of 400 ms, a reservation made
    // a window after that end, as on a loaded machine, found room, was granted at once and
    // left nothing to give up.) The first reservation sleeps for real until its caller gives
    // up; the one after returns at once, as its slot is a minute away.
    const windowMs = 60_000;
    const sleeps: number[] = [];
    const firstSleeps = createGate();
    const budget = createSharedBudget({
      sql: replicas[0]!.sql,
      key,
      perMinute: 1,
      windowMs,
      sleep: (ms, signal) => {
        sleeps.push(ms);
        firstSleeps.open();
        return sleeps.length === 1 ? delay(ms, undefined, { signal }) : Promise.resolve();
      },
    });
    (await budget.acquire())();
    const holdsOf = async () => {
      const [row] = await database.sql<{ held: number }[]>`
        SELECT cardinality(holds) AS held FROM luma_guest_sync.rate_budget WHERE "key" = ${key}`;
      return row!.held;
    };
    await waitUntil(async () => (await holdsOf()) === 0);
    // The slot one window after that end is reserved; its caller gives up while sleeping.
    const giveUp = new AbortController();
    const reserved = budget.acquire(giveUp.signal);
    await firstSleeps.opened;
    assert.equal(await holdsOf(), 1, 'the reservation is held while its caller sleeps');
    giveUp.abort(new Error('gave up'));
    await assert.rejects(reserved, /gave up/);
    await waitUntil(async () => (await holdsOf()) === 0);
    // Another caller gets that same slot (the end still counts), and its hold stays until it ends.
    const done = await budget.acquire(AbortSignal.timeout(60_000));
    assert.equal(sleeps.length, 2, 'the next caller waited for a slot too: the first end still counts');
    assert.equal(await holdsOf(), 1);
    done();
    await waitUntil(async () => (await holdsOf()) === 0);
    const logged = await database.sql<{ at: string }[]>`
      SELECT started_at::text AS at FROM public.budget_log WHERE "key" = ${key} ORDER BY started_at`;
    assert.equal(logged.length, 3, 'two requests and the reservation given up');
    assert.equal(logged[2]!.at, logged[1]!.at, 'the slot given back is the one granted next');
  });

  it('asks the database once per start while there is room, and once per slot of an ended request past it', async () => {
    const key = newKey();
    let calls = 0;
    const counted = createDatabase({
      url: database.url,
      poolMax: 3,
      onQuery: (query) => {
        if (query.includes('reserve_rate_slot')) calls++;
      },
    });
    try {
      const windowMs = 300;
      const budget = createSharedBudget({ sql: counted.sql, key, perMinute: 5, windowMs });
      await Promise.all(Array.from({ length: 5 }, async () => (await budget.acquire())()));
      assert.equal(calls, 5, 'five starts with room: five round trips (and five ends, not awaited)');
      await waitUntil(async () => {
        const [row] = await database.sql<{ held: number }[]>`
          SELECT cardinality(holds) AS held FROM luma_guest_sync.rate_budget WHERE "key" = ${key}`;
        return row!.held === 0;
      });

      calls = 0;
      // Five callers past the budget, every request ended: each reserves the slot one window
      // after an end in one round trip, with no refusal to ask again after.
      const stored = (
        await database.sql<{ ms: number }[]>`
          SELECT extract(epoch FROM s) * 1000 AS ms FROM luma_guest_sync.rate_budget, unnest(starts) AS s
          WHERE "key" = ${key} ORDER BY 1`
      ).map((r) => Number(r.ms));
      // A reservation drops the ends already a window old: when the five starts spread over
      // more than a window (a loaded machine), the row keeps fewer than five. A dropped end
      // had left before the reservation that dropped it, so before any slot below.
      assert.ok(stored.length <= 5, `${stored.length} ends`);
      const ends = [...Array<number>(5 - stored.length).fill(Number.NEGATIVE_INFINITY), ...stored];
      await Promise.all(Array.from({ length: 5 }, async () => (await budget.acquire())()));
      assert.equal(calls, 5, `${calls} round trips for five slots past the budget`);
      // Each slot starts, on the database's clock, one window after an end: never sooner.
      const [row] = await database.sql<{ ms: number[] }[]>`
        SELECT array_agg((extract(epoch FROM started_at) * 1000)::float8 ORDER BY started_at) AS ms
        FROM public.budget_log WHERE "key" = ${key}`;
      const slots = row!.ms.map(Number).slice(5);
      assert.equal(slots.length, 5);
      for (const [i, at] of slots.entries()) {
        assert.ok(at >= ends[i]! + windowMs, `slot ${i} starts ${ends[i]! + windowMs - at} ms before its end left`);
      }
    } finally {
      await counted.close();
    }
  });

  it('recovers by itself, within a window, from starts stamped in the future (a database clock stepped back)', async () => {
    const key = newKey();
    const windowMs = 400;
    // A full budget stamped an hour ahead: what the row holds after the clock steps back an hour.
    await database.sql`
      INSERT INTO luma_guest_sync.rate_budget ("key", starts)
      VALUES (${key}, ARRAY[now() + interval '1 hour', now() + interval '1 hour', now() + interval '1 hour'])`;
    const [first] = await database.sql<{ wait: number }[]>`
      SELECT wait_ms AS wait FROM luma_guest_sync.reserve_rate_slot(${key}, 3, ${windowMs}, 60000)`;
    const cappedAtAWindow = first!.wait <= windowMs;
    assert.ok(cappedAtAWindow, `the function asked for a ${first!.wait} ms wait`);

    const waits: number[] = [];
    const budget = createSharedBudget({
      sql: replicas[0]!.sql,
      key,
      perMinute: 3,
      windowMs,
      sleep: (ms, signal) => {
        waits.push(ms);
        return new Promise((resolve) => setTimeout(resolve, ms)).then(() => signal?.throwIfAborted());
      },
    });
    const started = performance.now();
    // Unrecovered, the wait would be an hour; the deadline only bounds that hang.
    await budget.acquire(AbortSignal.timeout(60_000));
    console.log(
      `# shared-budget clock step ${JSON.stringify({ firstAnswerMs: first!.wait, waits, grantedAfterMs: Math.round(performance.now() - started) })}`,
    );
    const everyWaitCapped = waits.every((wait) => wait <= windowMs);
    assert.ok(everyWaitCapped, `waits ${waits.join(', ')} ms`);
    const [row] = await database.sql<{ ahead: number }[]>`
      SELECT count(*)::int AS ahead FROM luma_guest_sync.rate_budget, unnest(starts) AS s
      WHERE "key" = ${key} AND s > clock_timestamp()`;
    assert.equal(row!.ahead, 0, 'no start is left in the future');
  });

  it('counts requests stamped ahead of the database clock (it stepped back) late, never early, and recovers', async () => {
    // An hour ahead: two ends, and one request in flight, as the row holds them after the
    // clock steps back an hour. Ends ahead count as ended now, so nothing goes for a window;
    // the hold ahead as a request starting one window from now (the furthest a reservation
    // can lie ahead), in flight until its hold has passed, so it keeps one of the three
    // slots: the third request must wait for the first's end and a window. Dropped as
    // nonsense, the stamps would let all three go at once.
    const key = newKey();
    const windowMs = 400;
    const holdMs = 300;
    await database.sql`
      INSERT INTO luma_guest_sync.rate_budget ("key", starts, holds)
      VALUES (${key}, ARRAY[now() + interval '1 hour', now() + interval '1 hour'], ARRAY[now() + interval '1 hour'])`;
    const budget = createSharedBudget({ sql: replicas[0]!.sql, key, perMinute: 3, windowMs, holdMs });
    const started = performance.now();
    const granted: number[] = [];
    // Unrecovered, the wait would be an hour; the deadline only bounds that hang.
    const deadline = AbortSignal.timeout(60_000);
    for (let i = 0; i < 3; i++) {
      (await budget.acquire(deadline))();
      granted.push(performance.now() - started);
    }
    assert.ok(granted[0]! >= windowMs, `first request after ${granted[0]!.toFixed(0)} ms`);
    assert.ok(granted[2]! >= 2 * windowMs, `third request after ${granted[2]!.toFixed(0)} ms`);
    const [row] = await database.sql<{ ahead: number }[]>`
      SELECT count(*)::int AS ahead FROM luma_guest_sync.rate_budget, unnest(starts || holds) AS s
      WHERE "key" = ${key} AND s > clock_timestamp() + ${`${windowMs} milliseconds`}::interval`;
    assert.equal(row!.ahead, 0, 'no stamp is left more than a window ahead');
  });

  it('never waits longer than about one window, whatever the database answers', async () => {
    // A replica still running an older acquire_rate_budget, or a clock step mid-call.
    const answers = [
      { wait_ms: 3_600_000, slot_at: null, asked_ms: 1_796_472_000_000 },
      { wait_ms: 3_600_000, slot_at: '2026-12-05 13:00:00.000001+00', asked_ms: 1_796_472_000_000 },
    ];
    const fake = (async () => [answers.shift()]) as unknown as Sql;
    const waits: number[] = [];
    const budget = createSharedBudget({
      sql: fake,
      key: 'k',
      perMinute: 5,
      windowMs: 1_000,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    await budget.acquire();
    // Asked again after a tenth of a window; a reservation's wait capped at one window (+1 ms for early timers).
    assert.deepEqual(waits, [100, 1_001]);
  });

  it('names the budget by a hash of the key and never stores the key', async () => {
    const apiKey = 'lk_live_S3CRET-budget-0123456789';
    const key = sharedBudgetKey('LUMA', apiKey);
    assert.equal(key, sharedBudgetKey('LUMA', apiKey), 'stable across replicas');
    assert.notEqual(key, sharedBudgetKey('LUMA', `${apiKey}x`));
    assert.ok(!key.includes(apiKey) && /^luma:[0-9a-f]{32}$/.test(key), key);
    await createSharedBudget({ sql: replicas[0]!.sql, key, perMinute: 5 }).acquire();
    const [row] = await database.sql<
      { text: string }[]
    >`SELECT string_agg("key", ',') AS text FROM luma_guest_sync.rate_budget`;
    assert.ok(!row?.text.includes(apiKey));
  });

  it('says to run db:migrate when the budget function is missing', async () => {
    const budget = createSharedBudget({ sql: bare.sql, key: newKey(), perMinute: 5 });
    await assert.rejects(budget.acquire(), /shared Luma request budget is unavailable \(run db:migrate/);
  });

  it('refuses a budget that is not a whole number of at least 1', () => {
    const sql = replicas[0]!.sql;
    assert.throws(() => createSharedBudget({ sql, key: 'k', perMinute: 0 }), RangeError);
    assert.throws(() => createSharedBudget({ sql, key: 'k', perMinute: 5, windowMs: 0.5 }), RangeError);
  });
});
