import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { eq } from 'drizzle-orm';
import { plEvent } from '../src/db/schema.ts';
import type { LumaSimulatorOptions } from '../src/local/luma-simulator.ts';
import { silentLogger } from '../src/log.ts';
import { runEnqueue, slotOf } from '../src/schedule/scheduler.ts';
import { createTestDatabase } from './support/db.ts';
import { sample } from './support/metrics-text.ts';
import { guestsOf, seedEvent, seedMember } from './support/seed.ts';
import { createFifoQueue, queueDepth, receiveAll, waitFor } from './support/sqs-queue.ts';
import { startStack } from './support/stack.ts';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;

/** An event whose Luma list holds `members` directory members and `strangers` unknown guests. */
async function seedEventWithGuests(stack: Stack, members: number, strangers = 0) {
  const { db } = stack.database;
  const seeded = await Promise.all(Array.from({ length: members }, () => seedMember(db)));
  const event = await seedEvent(db);
  stack.lumaEvents[event.externalEventId!] = [
    ...seeded.map((m, i) => ({ id: `gst-${event.uid}-${i}`, email: m.email! })),
    ...Array.from({ length: strangers }, (_, i) => ({ id: `gst-stranger-${i}`, email: `stranger${i}@nowhere.io` })),
  ];
  return event;
}

function enqueueAll(stack: Stack) {
  const { db } = stack.database;
  return runEnqueue({ db, sqs: stack.sqs, queueUrl: stack.queue.url, log: silentLogger }, slotOf(new Date()));
}

async function lastSyncedAt(stack: Stack, eventUid: string) {
  const [row] = await stack.database.db
    .select({ at: plEvent.guestLastSyncedAt })
    .from(plEvent)
    .where(eq(plEvent.uid, eventUid));
  return row?.at ?? null;
}

const logged = (msg: string, eventUid?: string) => (l: Record<string, unknown>) =>
  l.msg === msg && (eventUid === undefined || l.eventUid === eventUid);

async function messagesLeft(stack: Stack): Promise<number> {
  const depth = await queueDepth(stack.sqs, stack.queue.url);
  return depth.visible + depth.inFlight;
}

/** Sends `signal` and resolves with the exit code once the process has exited. */
async function stopWith(worker: WorkerProcess, signal: NodeJS.Signals): Promise<{ code: number | string }> {
  worker.child.kill(signal);
  return { code: await worker.exited };
}

/** Whether the worker logged page `page` of `eventUid` as processed. */
const processedPage = (worker: WorkerProcess, eventUid: string, page: number) =>
  worker.lines.some((l) => l.msg === 'page processed' && l.eventUid === eventUid && l.page === page);

describe('the daemon, as a real process', () => {
  it('syncs an enqueued event, reports it in /metrics, answers /healthz, and exits 0 on SIGTERM', async () => {
    const stack = await startStack({ label: 'daemon' });
    const event = await seedEventWithGuests(stack, 3, 1);
    const before = Date.now() / 1000;

    const worker = await startWorkerProcess(stack.env);
    await worker.waitUntilReady();
    await enqueueAll(stack);
    const done = await worker.waitForLog(logged('sync complete', event.uid));

    assert.equal(done.created, 3);
    assert.equal((await guestsOf(stack.database.db, event.uid)).length, 3);
    const healthz = await fetch(`${worker.url}/healthz`);
    assert.equal(healthz.status, 200);
    assert.equal(await healthz.text(), 'ok\n');
    // The result is counted after the sync's history row is written, just after the log line.
    let metrics = '';
    await waitFor(
      async () => {
        metrics = await (await fetch(`${worker.url}/metrics`)).text();
        return sample(metrics, 'lgs_sync_duration_seconds_count{outcome="success"}') === 1;
      },
      10_000,
      'the sync to be counted',
    );
    assert.equal(sample(metrics, 'lgs_guests_fetched_total'), 4);
    assert.equal(sample(metrics, 'lgs_guests_matched_total'), 3);
    assert.equal(sample(metrics, 'lgs_guests_created_total'), 3);
    assert.equal(sample(metrics, 'lgs_sync_duration_seconds_count{outcome="success"}'), 1);
    assert.equal(sample(metrics, 'lgs_sync_duration_seconds_count{outcome="failure"}'), 0);
    const lastSuccess = sample(metrics, 'lgs_last_successful_sync_timestamp_seconds');
    assert.ok(lastSuccess !== undefined && lastSuccess >= before && lastSuccess <= Date.now() / 1000, `${lastSuccess}`);

    assert.equal((await stopWith(worker, 'SIGTERM')).code, 0);
  });

  it('drops a message that is not JSON with its reason and id, counts it as bad_message, and keeps a copy', async () => {
    const stack = await startStack({ label: 'daemon_poison' });
    const poison = await createFifoQueue(stack.sqs, { label: 'poison-copies' });
    const worker = await startWorkerProcess({ ...stack.env, PL_EVENT_GUEST_SYNC_POISON_QUEUE_URL: poison.url });
    await worker.waitUntilReady();

    const { MessageId } = await stack.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.queue.url,
        MessageBody: 'this is {not json',
        MessageGroupId: 'poison',
        MessageDeduplicationId: randomUUID(),
      }),
    );
    const dropped = await worker.waitForLog(
      (l) => l.msg === 'message can never succeed: dropped' && l.messageId === MessageId,
    );

    assert.equal(dropped.kind, 'bad_message');
    assert.match(String(dropped.reason), /not JSON/);
    // Deleted, not merely hidden until its visibility timeout: nothing visible, nothing in flight.
    await waitFor(async () => (await messagesLeft(stack)) === 0, 10_000, 'the poison message to be deleted');
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    assert.equal(sample(metrics, 'lgs_sync_errors_total{kind="bad_message"}'), 1);
    assert.equal(
      worker.lines.filter((l) => l.msg === 'sync message received' && l.messageId === MessageId).length,
      1,
      'received once',
    );
    const [copy] = await receiveAll(stack.sqs, poison.url, { messageAttributes: true });
    assert.equal(copy?.Body, 'this is {not json', 'the whole body is kept on the poison queue');
    assert.equal(copy?.MessageAttributes?.errorKind?.StringValue, 'bad_message');

    assert.equal((await stopWith(worker, 'SIGTERM')).code, 0);
  });

  it('waits unready while the schema is missing, naming what is missing and db:migrate, then becomes ready', async () => {
    const stack = await startStack({ label: 'daemon_schema' });
    const empty = await createTestDatabase({ migrate: false, label: 'daemon_unmigrated' });
    const env = { ...stack.env, DATABASE_URL: empty.url };
    const worker = await startWorkerProcess(env);

    await worker.waitForLog((l) => l.msg === 'waiting for a dependency' && l.what === 'directory schema');
    const unready = await fetch(`${worker.url}/readyz`);
    assert.equal(unready.status, 503);
    const { checks } = (await unready.json()) as { checks: Record<string, { ok: boolean; detail?: string }> };
    assert.equal(checks.schema?.ok, false);
    assert.match(checks.schema?.detail ?? '', /db:migrate/);
    assert.match(checks.schema?.detail ?? '', /"Member"\."uid"/, 'names a missing column');
    assert.match(checks.queue?.detail ?? '', /still starting/, 'the queue is not looked up yet, not unreachable');

    const migrate = await startWorkerProcess(env, { command: ['db:migrate'] });
    assert.equal(await migrate.exited, 0, migrate.stderr());
    // The start-up back-off is 1 s doubling to 30 s: ready within one more attempt at most.
    await worker.waitUntilReady(35_000);
    await worker.waitForLog(logged('luma-guest-sync ready'));

    assert.equal((await stopWith(worker, 'SIGTERM')).code, 0);
  });
});

describe('the daemon on SIGTERM during a sync', () => {
  /** Luma answers page 1 at once and later pages after `slowMs`, which a test may change. */
  function slowLuma(slowMs: number) {
    const latency = { slowMs };
    const luma: Omit<LumaSimulatorOptions, 'apiKey'> = {
      events: {},
      latencyMs: (page) => (page === 1 ? 0 : latency.slowMs),
    };
    return { latency, luma };
  }

  it('lets a sync shorter than the grace finish, deletes its message and exits 0', async () => {
    const { luma } = slowLuma(700);
    const stack = await startStack({ label: 'daemon_grace_long', luma });
    const event = await seedEventWithGuests(stack, 3);
    const worker = await startWorkerProcess({ ...stack.env, SHUTDOWN_GRACE_MS: '15000', LUMA_PAGE_SIZE: '1' });
    await worker.waitUntilReady();
    await enqueueAll(stack);
    await worker.waitForLog(logged('sync start', event.uid));

    const { code } = await stopWith(worker, 'SIGTERM');

    assert.equal(code, 0, worker.stderr());
    const done = worker.lines.find(logged('sync complete', event.uid));
    assert.equal(done?.created, 3);
    const stopped = worker.lines.find(logged('consumer stopped'));
    assert.deepEqual([stopped?.completed, stopped?.aborted], [1, 0]);
    assert.equal(await messagesLeft(stack), 0, 'the message was deleted');
    assert.equal((await guestsOf(stack.database.db, event.uid)).length, 3);
    assert.notEqual(await lastSyncedAt(stack, event.uid), null);
  });

  it('aborts a sync longer than the grace, exits promptly, and a second worker completes the event', async () => {
    const { latency, luma } = slowLuma(20_000);
    const stack = await startStack({ label: 'daemon_grace_short', luma, visibilityTimeout: 4 });
    const event = await seedEventWithGuests(stack, 4);
    const env = { ...stack.env, SHUTDOWN_GRACE_MS: '500', LUMA_PAGE_SIZE: '1' };
    const first = await startWorkerProcess(env);
    await first.waitUntilReady();
    await enqueueAll(stack);
    await first.waitForLog((l) => l.msg === 'page processed' && l.eventUid === event.uid && l.page === 1);
    assert.equal((await guestsOf(stack.database.db, event.uid)).length, 1);

    const { code } = await stopWith(first, 'SIGTERM');

    assert.equal(code, 0, first.stderr());
    // Promptly: it exited without waiting for page 2, which Luma answers only after 20 s.
    assert.equal(processedPage(first, event.uid, 2), false, 'exited without waiting for the slow page');
    assert.ok(
      first.lines.some((l) => l.msg === 'sync aborted by shutdown: message made visible again for another worker'),
    );
    assert.equal(first.lines.find(logged('sync complete', event.uid)), undefined);
    assert.equal(await messagesLeft(stack), 1, 'the message stays on the queue');
    assert.equal(await lastSyncedAt(stack, event.uid), null);

    latency.slowMs = 0;
    const second = await startWorkerProcess(env);
    const done = await second.waitForLog(logged('sync complete', event.uid), 20_000);

    assert.equal(done.created, 3, 'only the guests the first worker had not written');
    assert.equal(done.resumedAtPage, 2, "resumed after the first worker's last written page");
    const received = second.lines.find((l) => l.msg === 'sync message received');
    assert.ok(Number(received?.receiveCount) >= 2, `receiveCount ${received?.receiveCount}`);
    const guests = await guestsOf(stack.database.db, event.uid);
    assert.equal(guests.length, 4);
    assert.equal(new Set(guests.map((g) => g.memberUid)).size, 4, 'no duplicate rows');
    assert.notEqual(await lastSyncedAt(stack, event.uid), null);
    await waitFor(async () => (await messagesLeft(stack)) === 0, 10_000, 'the message to be deleted');
    assert.equal((await stopWith(second, 'SIGTERM')).code, 0);
  });

  it('exits at once on a second signal, leaving the message on the queue', async () => {
    const { luma } = slowLuma(20_000);
    const stack = await startStack({ label: 'daemon_second_signal', luma });
    const event = await seedEventWithGuests(stack, 2);
    const worker = await startWorkerProcess({ ...stack.env, SHUTDOWN_GRACE_MS: '60000', LUMA_PAGE_SIZE: '1' });
    await worker.waitUntilReady();
    await enqueueAll(stack);
    await worker.waitForLog((l) => l.msg === 'page processed' && l.eventUid === event.uid);
    worker.child.kill('SIGTERM');
    await worker.waitForLog(logged('shutdown started'));

    const { code } = await stopWith(worker, 'SIGINT');

    // 130 is the second signal's own exit: not the end of a 60 s grace, nor of the sync,
    // whose next page Luma answers only after 20 s.
    assert.equal(code, 130);
    assert.equal(processedPage(worker, event.uid, 2), false, 'exited without waiting for the slow page');
    assert.ok(worker.lines.some(logged('second signal: exiting now')));
    assert.equal(await messagesLeft(stack), 1);
    assert.equal(await lastSyncedAt(stack, event.uid), null);
  });
});
