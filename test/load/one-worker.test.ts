import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startWorkerProcess } from '../support/worker-process.ts';
import { describeRun, LOAD, LOAD_DEADLINE_MS, runLoad, startLoadStack } from './load-harness.ts';

describe('load: one worker', () => {
  it('syncs 200 events of 500 guests inside the Luma rate limit, without duplicates', async (t) => {
    const stack = await startLoadStack('load_one', LOAD);
    const worker = await startWorkerProcess(stack.env);
    const run = await runLoad(stack, [worker], LOAD, LOAD_DEADLINE_MS);
    t.diagnostic(describeRun(run));

    assert.equal(run.rows, LOAD.events * LOAD.guestsPerEvent, 'every guest of every event was added');
    assert.equal(run.duplicates, 0);
    assert.equal(run.rateLimited, 0, 'Luma never answered 429');
    assert.equal(run.requests, LOAD.events * Math.ceil(LOAD.guestsPerEvent / 100));
    assert.equal(run.grants.count, run.requests, 'every request went through the shared budget');
    assert.ok(run.grants.busiest <= LOAD.budget, `busiest window held ${run.grants.busiest} starts`);

    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
  });
});
