import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../src/log.ts';
import { runEnqueue, slotOf } from '../src/schedule/scheduler.ts';
import { linesOf, runCliProcess } from './support/cli-process.ts';
import { duplicateKeys } from './support/json-keys.ts';
import { seedEvent, seedMember } from './support/seed.ts';
import { setPushConfigs } from './support/seed-push.ts';
import { startStack } from './support/stack.ts';
import { startWorkerProcess } from './support/worker-process.ts';

const stack = await startStack({ label: 'log_lines' });
const { db } = stack.database;
// Push candidates and notifications are refreshed after each sync, so their lines are logged too.
await setPushConfigs(db, { minAttendeesPerEvent: 1 });

async function seedEventWithGuests(members: number) {
  const seeded = await Promise.all(Array.from({ length: members }, () => seedMember(db)));
  const event = await seedEvent(db, { startDate: new Date(Date.now() + 86_400_000) });
  stack.lumaEvents[event.externalEventId!] = [
    ...seeded.map((m, i) => ({ id: `gst-${event.uid}-${i}`, email: m.email! })),
    { id: `gst-${event.uid}-stranger`, email: `stranger-${event.uid}@nowhere.io` },
  ];
  return event;
}

/** Every line must be one JSON object with no key twice, at any depth. */
function assertIngestible(lines: string[], where: string) {
  assert.ok(lines.length > 0, `${where} logged nothing`);
  const problems = lines.flatMap((line) => {
    const repeated = duplicateKeys(line);
    return repeated.length ? [`${repeated.join(', ')} twice in ${line}`] : [];
  });
  assert.deepEqual(problems, [], `${where}: lines with a repeated key`);
}

describe('log lines a pipeline can ingest', () => {
  it('the daemon, syncing an event at debug level and stopping, writes no key twice on any line', async () => {
    const event = await seedEventWithGuests(3);
    const worker = await startWorkerProcess({ ...stack.env, PL_EVENT_GUEST_SYNC_ENABLED: 'true' });
    await worker.waitUntilReady();
    await runEnqueue({ db, sqs: stack.sqs, queueUrl: stack.queue.url, log: silentLogger }, slotOf(new Date()));
    await worker.waitForLog((l) => l.msg === 'sync complete' && l.eventUid === event.uid);
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);

    const complete = worker.lines.find((l) => l.msg === 'sync complete');
    assert.equal(complete?.component, 'PLEventGuestSyncService', 'the sync lines still carry their component');
    assert.ok(
      worker.lines.some((l) => l.component === 'SyncConsumer'),
      'the consumer lines carry theirs',
    );
    assertIngestible(worker.rawLines, 'daemon');
  });

  it('sync writes only its result to stdout, as one JSON document, and its log lines to stderr', async () => {
    const event = await seedEventWithGuests(2);

    const run = await runCliProcess(['sync', '--event', event.uid], { ...stack.env, LOG_LEVEL: 'debug' });

    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.equal(result.eventUid, event.uid);
    assert.equal(result.created, 2);
    const logs = linesOf(run.stderr);
    assert.ok(
      logs.some((line) => JSON.parse(line).msg === 'sync complete'),
      `the log lines are on stderr:\n${run.stderr}`,
    );
    assertIngestible(logs, 'sync');
  });

  it('enqueue writes only its report to stdout and its log lines to stderr', async () => {
    const run = await runCliProcess(['enqueue', '--dry-run'], { ...stack.env, LOG_LEVEL: 'debug' });

    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).dryRun, true);
    assertIngestible(linesOf(run.stderr), 'enqueue');
  });
  it('status --json writes only its report to stdout', async () => {
    const run = await runCliProcess(['status', '--json'], { ...stack.env, LOG_LEVEL: 'debug' });

    assert.ok(run.code === 0 || run.code === 1, run.stderr);
    assert.doesNotThrow(() => JSON.parse(run.stdout), `stdout is one JSON document:\n${run.stdout}`);
    for (const line of linesOf(run.stderr)) assert.deepEqual(duplicateKeys(line), [], line);
  });
});

describe('duplicateKeys', () => {
  it('finds a repeated key at the top and in nested objects, and none in a clean line', () => {
    assert.deepEqual(duplicateKeys('{"a":1,"b":{"c":[{"d":1,"d":2}]},"a":"x\\"y"}'), ['b.c.[].d', 'a']);
    assert.deepEqual(duplicateKeys('{"level":30,"msg":"ok","list":[1,"two",null,{"k":true}]}'), []);
    assert.throws(() => duplicateKeys('{"a":1'), /not JSON/);
  });
});
