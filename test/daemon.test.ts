import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../src/log.ts';
import { runEnqueue, slotOf } from '../src/schedule/scheduler.ts';
import { guestsOf, seedEvent, seedMember } from './support/seed.ts';
import { startStack } from './support/stack.ts';
import { startWorkerProcess } from './support/worker-process.ts';

describe('the daemon, as a real process', () => {
  it('syncs enqueued events, reports them in /metrics, and exits 0 on SIGTERM', async () => {
    const stack = await startStack({ label: 'daemon' });
    const { db } = stack.database;
    const members = await Promise.all([1, 2, 3].map((i) => seedMember(db, { email: `Daemon${i}@X.org` })));
    const event = await seedEvent(db);
    stack.lumaEvents[event.externalEventId!] = members.map((m, i) => ({ id: `gst-${i}`, email: m.email!.toLowerCase() }));

    const worker = await startWorkerProcess(stack.env);
    await worker.waitUntilReady();
    await runEnqueue({ db, sqs: stack.sqs, queueUrl: stack.queue.url, log: silentLogger }, slotOf(new Date()));
    const done = await worker.waitForLog((l) => l.msg === 'sync complete' && l.eventUid === event.uid);

    assert.equal(done.created, 3);
    assert.equal((await guestsOf(db, event.uid)).length, 3);
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    assert.match(metrics, /^lgs_guests_created_total 3$/m);
    assert.match(metrics, /^lgs_guests_fetched_total 3$/m);

    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
  });
});
