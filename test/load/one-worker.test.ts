import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startWorkerProcess } from '../support/worker-process.ts';
import { describeRun, LOAD, runLoad, startLoadStack } from './load-harness.ts';

describe('load: one worker', () => {
  it('syncs 200 events of 500 guests inside the Luma rate limit, without duplicates, in bounded memory', async (t) => {
    const stack = await startLoadStack('load_one', LOAD);
    const worker = await startWorkerProcess(stack.env);
    const run = await runLoad(stack, [worker], LOAD, 90_000);
    t.diagnostic(describeRun(run));

    assert.equal(run.rows, LOAD.events * LOAD.guestsPerEvent, 'every guest of every event was added');
    assert.equal(run.duplicates, 0);
    assert.equal(run.rateLimited, 0, 'Luma never answered 429');
    assert.equal(run.requests, LOAD.events * Math.ceil(LOAD.guestsPerEvent / 100));
    assert.equal(run.grants.count, run.requests, 'every request went through the shared budget');
    assert.ok(run.grants.busiest <= LOAD.budget, `busiest window held ${run.grants.busiest} starts`);
    // The budget binds: the worker could go several times faster.
    assert.ok(run.grants.perWindow >= 0.9 * LOAD.budget, `${run.grants.perWindow} starts per window`);
    assert.ok(run.peakRssMb < 400, `peak RSS ${run.peakRssMb} MB`);

    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
  });
});
