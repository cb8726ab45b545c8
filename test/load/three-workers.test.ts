import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startWorkerProcess } from '../support/worker-process.ts';
import { describeRun, LOAD, LOAD_DEADLINE_MS, runLoad, startLoadStack } from './load-harness.ts';

describe('load: three workers on one Luma key', () => {
  it('share one budget through the database: no 429, every event synced, no duplicates', async (t) => {
    const stack = await startLoadStack('load_three', LOAD);
    const workers = await Promise.all([1, 2, 3].map(() => startWorkerProcess(stack.env)));
    const run = await runLoad(stack, workers, LOAD, LOAD_DEADLINE_MS);
    t.diagnostic(describeRun(run));

    assert.equal(run.rows, LOAD.events * LOAD.guestsPerEvent);
    assert.equal(run.duplicates, 0);
    assert.equal(run.rateLimited, 0, 'Luma never answered 429');
    assert.equal(run.grants.keys, 1, 'the three workers found the same budget');
    assert.equal(run.grants.count, run.requests);
    assert.ok(run.grants.busiest <= LOAD.budget, `busiest window held ${run.grants.busiest} starts`);
    for (const worker of workers) {
      const synced = worker.lines.filter((l) => l.msg === 'sync complete').length;
      assert.ok(synced > 0, 'each worker took part');
    }

    await Promise.all(
      workers.map(async (worker) => {
        worker.child.kill('SIGTERM');
        assert.equal(await worker.exited, 0);
      }),
    );
  });

  it('control: with per-process budgets the same three workers draw 429s', async (t) => {
    // A 5 s window: the three workers need only ~10 requests a second between them to
    // outrun Luma's 45 in a window, so a slow machine cannot hide the 429s.
    const stack = await startLoadStack('load_three_control', { ...LOAD, events: 60, windowMs: 5_000 });
    const env = { ...stack.env, LUMA_RATE_LIMIT_SCOPE: 'process' };
    const workers = await Promise.all([1, 2, 3].map(() => startWorkerProcess(env)));
    await Promise.all(workers.map((w) => w.waitUntilReady(60_000)));
    await stack.enqueueAll();
    // Waits for the first 429; the deadline only bounds a run that never draws one.
    const deadline = Date.now() + 90_000;
    while (stack.luma.stats.rateLimited === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    t.diagnostic(`${stack.luma.stats.rateLimited} answers 429 of ${stack.luma.stats.requests} requests`);
    assert.ok(stack.luma.stats.rateLimited > 0, 'three budgets of 30 outrun a limit of 45');
    for (const worker of workers) worker.child.kill('SIGKILL');
  });
});
