/**
 * Luma misbehaving, one fault per event and then at random (seeded), against a real worker
 * process over real HTTP. Transient faults end with the exact rows of an undisturbed sync,
 * 5xx, hangs and resets without losing a delivery (they are retried in the process);
 * malformed data ends as documented: an unusable page is a retryable error (redelivered,
 * then dead-lettered), an unusable entry is skipped and counted, a 4xx drops the message.
 */

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { maxClaimLeaseSeconds } from '../../src/config/claim-timing.ts';
import type { SimGuest } from '../../src/local/luma-simulator.ts';
import { createTestDatabase } from '../support/db.ts';
import { testEnv } from '../support/env.ts';
import {
  completingReceiveCount,
  createLeakWatch,
  duplicateGuests,
  type EventRef,
  type LumaFault,
  type LumaScript,
  lastSyncedAt,
  logs,
  SECRET_LUMA_KEY,
  seededRandom,
  sendSync,
  startFaultyLuma,
  syncedRows,
  until,
  urlWithSecretPassword,
} from '../support/faults.ts';
import { seedEvent, seedMember } from '../support/seed.ts';
import { createFifoQueue, createTestSqs, queueDepth, receiveAll } from '../support/sqs-queue.ts';

const PAGE_SIZE = 5;
const MAX_RECEIVES = 5;
const SEED = Number(process.env.LGS_FAULT_SEED ?? 20_261_124);

const database = await createTestDatabase({ label: 'faults_luma' });
const { db, sql } = database;
const sqs = createTestSqs();
// Receive counts are asserted exactly, so a live sync's message must never lapse: 6 s of
// visibility with the default heartbeat (every 2 s) leaves 4 s for a busy machine's late timer.
const VISIBILITY_SECONDS = 6;
const queue = await createFifoQueue(sqs, {
  label: 'faults-luma',
  visibilityTimeout: VISIBILITY_SECONDS,
  maxReceiveCount: MAX_RECEIVES,
});
const lumaEvents: Record<string, SimGuest[]> = {};
const luma = await startFaultyLuma({ events: lumaEvents, apiKey: SECRET_LUMA_KEY });
const watch = createLeakWatch();

const members = await Promise.all(
  Array.from({ length: 20 }, (_, i) => seedMember(db, { email: `Luma${i}@Example.org` })),
);

interface FaultEvent extends EventRef {
  label: string;
  expected: string[];
}

/** An event whose Luma list is `count` guests of the shared members (every third unknown to the directory). */
async function faultEvent(label: string, script: LumaScript | undefined, count = 15): Promise<FaultEvent> {
  const event = await seedEvent(db, { name: `Luma fault ${label}` });
  const guests: SimGuest[] = [];
  const expected: string[] = [];
  for (let i = 0; i < count; i++) {
    const member = members[i % members.length]!;
    const known = i % 3 !== 2;
    guests.push({ id: `gst-${label}-${i}`, email: known ? member.email!.toUpperCase() : `stranger${i}@example.net` });
    if (known) expected.push(`${member.uid}|-|gst-${label}-${i}`);
  }
  lumaEvents[event.externalEventId!] = guests;
  luma.script(event.externalEventId!, script);
  return { ...event, label, expected: expected.sort() };
}

const html = (status: number): LumaFault => ({
  kind: 'status',
  status,
  contentType: 'text/html',
  body: `<!DOCTYPE html><html><body><h1>${status}</h1><p>cloudflare</p></body></html>`,
});
const tooMany = (retryAfter?: string): LumaFault => ({
  kind: 'status',
  status: 429,
  headers: retryAfter ? { 'retry-after': retryAfter } : {},
  body: '{"message":"Rate limit exceeded"}',
});
/** `fault` for the given attempts of page `page`; the page answers normally otherwise. */
const on =
  (page: number, faults: Record<number, LumaFault>): LumaScript =>
  (r) =>
    r.page === page ? faults[r.attempt] : undefined;

// ---- transient faults, one per event: each completes, after the receives noted.
const transient = {
  rateLimitedWithRetryAfter: await faultEvent('429ra', on(2, { 1: tooMany('1'), 2: tooMany('1'), 3: tooMany('1') })),
  rateLimitStorm: await faultEvent(
    '429storm',
    on(1, { 1: tooMany(), 2: tooMany(), 3: tooMany(), 4: tooMany(), 5: tooMany(), 6: tooMany() }),
  ),
  serverErrors: await faultEvent('5xx', on(2, { 1: { kind: 'status', status: 500 }, 2: html(502), 3: html(503) })),
  hungConnection: await faultEvent('hang', on(3, { 1: { kind: 'hang' } })),
  resetMidBody: await faultEvent('reset', on(1, { 1: { kind: 'reset-mid-body' } })),
  truncatedJson: await faultEvent('truncated', on(2, { 1: { kind: 'truncate' } })),
  htmlWith200: await faultEvent('html200', on(1, { 1: html(200) })),
  wrongPageTypes: await faultEvent(
    'pagetypes',
    on(2, {
      1: { kind: 'rewrite', edit: (body) => ({ ...body, has_more: 'yes' }) },
      2: { kind: 'rewrite', edit: (body) => ({ ...body, entries: { 0: body.entries } }) },
    }),
  ),
};
/** Receives the event needs, and the error kinds of the deliveries that fail first. */
const transientOutcome: Record<keyof typeof transient, { receives: number; kinds: string[] }> = {
  rateLimitedWithRetryAfter: { receives: 1, kinds: [] },
  rateLimitStorm: { receives: 2, kinds: ['luma_rate_limited'] },
  // 5xx, hangs and resets are retried in the process (LUMA_RETRIES): no delivery fails.
  serverErrors: { receives: 1, kinds: [] },
  hungConnection: { receives: 1, kinds: [] },
  resetMidBody: { receives: 1, kinds: [] },
  truncatedJson: { receives: 2, kinds: ['luma_invalid_response'] },
  htmlWith200: { receives: 2, kinds: ['luma_invalid_response'] },
  wrongPageTypes: { receives: 3, kinds: ['luma_invalid_response', 'luma_invalid_response'] },
};

// ---- entries Luma should never send, on every request: skipped and counted, the rest synced.
const oddEmails: Array<[stored: string, sent: string]> = [
  ['ünïcödé.ünï@exämple.org', '  Ünïcödé.ÜNÏ@Exämple.ORG  '],
  ['nbsp@example.org', '\u00a0NBSP@example.org\u00a0'],
  ['tabs@example.org', '\t\ntabs@EXAMPLE.org\r\n'],
  // Byte-for-byte the directory's email: JavaScript's and PostgreSQL's lower() differ on these.
  ['ΟΔΟΣ@example.gr', 'ΟΔΟΣ@example.gr'],
  ['İnci@example.com.tr', 'İnci@example.com.tr'],
];
const oddMembers = await Promise.all(oddEmails.map(([email]) => seedMember(db, { email })));
const JUNK_ENTRIES: unknown[] = [
  { id: 42, user_email: 'numeric-id@example.org' },
  { id: 'gst-junk-object-email', user_email: { address: 'luma0@example.org' } },
  { id: 'gst-junk-null-email', user_email: null },
  { id: 'gst-junk-long-email', user_email: `${'a'.repeat(9_988)}@example.org` },
  { id: 'gst-junk-inner-space', user_email: 'luma1 @example.org' },
  { id: 'gst-junk-control', user_email: 'luma2\u0000@example.org' },
  'an entry that is a string',
  null,
];
const entryProblems = await faultEvent('entries', (r) =>
  r.page === 1
    ? {
        kind: 'rewrite',
        edit: (body) => ({ ...body, entries: [...(body.entries as unknown[]), ...JUNK_ENTRIES] }),
      }
    : undefined,
);
lumaEvents[entryProblems.externalEventId!]!.push(
  ...oddEmails.map(([, sent], i) => ({ id: `gst-entries-odd-${i}`, email: sent })),
);
entryProblems.expected = [
  ...entryProblems.expected,
  ...oddMembers.map((m, i) => `${m.uid}|-|gst-entries-odd-${i}`),
].sort();

// ---- an unusable page every time: retried, then dead-lettered; nothing past it written.
const repeatingCursor = await faultEvent('cursor', (r) =>
  r.page === 3 ? { kind: 'rewrite', edit: (body) => ({ ...body, has_more: true, next_cursor: r.cursor }) } : undefined,
);
// ---- Luma echoing the key back in error bodies, then a 4xx: the message is dropped.
const echo = await faultEvent('echo', (r) =>
  r.page === 1
    ? r.attempt === 1
      ? { ...html(500), body: `<html><pre>x-luma-api-key: ${r.apiKey}</pre></html>` }
      : { kind: 'status', status: 400, body: JSON.stringify({ message: `Invalid request for key ${r.apiKey}` }) }
    : undefined,
);

// ---- every transient fault at random, seeded; at most two failed deliveries per event.
const RANDOM_FAULTS: LumaFault[] = [
  tooMany('1'),
  tooMany(),
  { kind: 'status', status: 500 },
  html(502),
  html(503),
  { kind: 'hang' },
  { kind: 'reset-mid-body' },
  { kind: 'truncate' },
  html(200),
];
const randomFaultsServed: Record<string, string[]> = {};
/** One generator per event: an event's requests come one after another, so its faults repeat run to run. */
function randomScript(label: string, seed: number): LumaScript {
  const random = seededRandom(seed);
  let failing = 0;
  let limited = 0;
  randomFaultsServed[label] = [];
  return () => {
    if (random() >= 0.35) return undefined;
    const fault = RANDOM_FAULTS[Math.floor(random() * RANDOM_FAULTS.length)]!;
    const is429 = fault.kind === 'status' && fault.status === 429;
    // A 429 costs a wait, not a delivery, while under LUMA_RATE_LIMIT_RETRIES in a row.
    if (is429 ? limited >= 2 : failing >= 2) return undefined;
    if (is429) limited++;
    else failing++;
    randomFaultsServed[label]!.push(fault.kind === 'status' ? String(fault.status) : fault.kind);
    return fault;
  };
}
const mixed = await Promise.all(
  ['mix1', 'mix2', 'mix3'].map((label, i) => faultEvent(label, randomScript(label, SEED + i), 20)),
);

const env = {
  DATABASE_URL: await urlWithSecretPassword(testEnv('adminDatabaseUrl'), database.url),
  AWS_ENDPOINT_URL_SQS: testEnv('sqsEndpoint'),
  PL_EVENT_GUEST_SYNC_QUEUE_URL: queue.url,
  PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED: 'true',
  PL_EVENT_GUEST_SYNC_CONCURRENCY: '10',
  PL_EVENT_GUEST_SYNC_WAIT_TIME_SECONDS: '1',
  PL_EVENT_GUEST_SYNC_VISIBILITY_TIMEOUT_SECONDS: String(VISIBILITY_SECONDS),
  DATABASE_POOL_MAX: '12',
  LUMA_API_URL: luma.url,
  LUMA_API_KEY: SECRET_LUMA_KEY,
  LUMA_PAGE_SIZE: String(PAGE_SIZE),
  LUMA_REQUEST_TIMEOUT_MS: '1000',
  LUMA_RATE_LIMIT_WAIT_SECONDS: '1',
  LUMA_RATE_LIMIT_RETRIES: '3',
  LUMA_RETRIES: '3',
  LUMA_RETRY_BASE_MS: '50',
  LUMA_RETRY_MAX_MS: '500',
  LUMA_RATE_LIMIT_PER_MINUTE: '100000',
  SHUTDOWN_GRACE_MS: '2000',
  // A killed or cut-off worker's claim is free when its message reappears.
  SYNC_CLAIM_LEASE_SECONDS: String(maxClaimLeaseSeconds(VISIBILITY_SECONDS)),
};
const worker = await watch.startWorker(env);
after(() => {
  if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
});

const failedKinds = (event: EventRef) =>
  worker.lines
    .filter((l) => l.msg === 'sync failed: message left for redelivery' && l.groupId === event.uid)
    .map((l) => String(l.kind));

describe('Luma faults against a real worker', () => {
  const figures: Record<string, unknown> = { seed: SEED };

  it('completes every event hit by transient faults, alone or mixed at random, with the exact rows', async () => {
    await worker.waitUntilReady();
    const started = Date.now();
    const all = [...Object.values(transient), entryProblems, repeatingCursor, echo, ...mixed];
    for (const event of all) await sendSync(sqs, queue.url, event);

    for (const [name, event] of Object.entries(transient) as Array<[keyof typeof transient, FaultEvent]>) {
      await worker.waitForLog(logs.syncComplete(event.uid), 90_000);
      assert.deepEqual(await syncedRows(sql, event.uid), event.expected, `${name}: rows`);
      assert.deepEqual(failedKinds(event), transientOutcome[name].kinds, `${name}: failed deliveries`);
      assert.equal(completingReceiveCount(worker, event.uid), transientOutcome[name].receives, `${name}: receives`);
      assert.notEqual(await lastSyncedAt(sql, event.uid), null);
    }
    // Retry-After was honoured: three 1 s waits between the first and the fourth request.
    const pageTwo = luma.requests.filter(
      (r) => r.eventId === transient.rateLimitedWithRetryAfter.externalEventId && r.page === 2,
    );
    assert.equal(pageTwo.length, 4);
    assert.ok(pageTwo[3]!.at - pageTwo[0]!.at >= 2_900, `${pageTwo[3]!.at - pageTwo[0]!.at} ms`);

    const mixedOutcome: Record<string, unknown> = {};
    for (const event of mixed) {
      const done = await worker.waitForLog(logs.syncComplete(event.uid), 90_000);
      assert.deepEqual(await syncedRows(sql, event.uid), event.expected, `${event.label}: rows`);
      mixedOutcome[event.label] = {
        faults: randomFaultsServed[event.label],
        receives: completingReceiveCount(worker, event.uid),
        failedKinds: failedKinds(event),
        durationMs: done.durationMs,
      };
    }
    assert.ok(Object.values(randomFaultsServed).flat().length >= 3, 'the seed produced faults');
    figures.mixed = mixedOutcome;
    figures.transientDoneMs = Date.now() - started;
  });

  it('skips and counts entries without a usable id or email, and matches odd but valid emails', async () => {
    const done = await worker.waitForLog(logs.syncComplete(entryProblems.uid), 60_000);
    assert.equal(done.skipped, JUNK_ENTRIES.length);
    assert.deepEqual(await syncedRows(sql, entryProblems.uid), entryProblems.expected);
    assert.deepEqual(failedKinds(entryProblems), [], 'entry-level problems never fail a delivery');
  });

  it('retries a list whose cursor repeats until the dead-letter queue, writing nothing past the bad page', async () => {
    await until(
      'the repeating-cursor message in the DLQ',
      async () => (await queueDepth(sqs, queue.dlqUrl!)).visible > 0,
      90_000,
    );
    const [dead] = await receiveAll(sqs, queue.dlqUrl!);
    assert.equal(JSON.parse(dead!.Body!).eventUid, repeatingCursor.uid);
    assert.deepEqual(failedKinds(repeatingCursor), Array(MAX_RECEIVES).fill('luma_invalid_response'));
    const twoPages = repeatingCursor.expected.filter((row) => Number(row.split('-').at(-1)) < 2 * PAGE_SIZE);
    assert.deepEqual(await syncedRows(sql, repeatingCursor.uid), twoPages);
    assert.equal(await lastSyncedAt(sql, repeatingCursor.uid), null);
    const reason = worker.lines.find((l) => l.groupId === repeatingCursor.uid && l.kind === 'luma_invalid_response');
    assert.match(JSON.stringify(reason), /repeats the cursor of page 2/);
  });

  it('drops a message Luma answers with a 4xx, after a 5xx retried in place, quoting neither body whole', async () => {
    const dropped = await worker.waitForLog(
      (l) => l.msg === 'message can never succeed: dropped' && l.groupId === echo.uid,
    );
    assert.equal(dropped.kind, 'luma_rejected');
    assert.equal(dropped.receiveCount, 1);
    assert.deepEqual(failedKinds(echo), []);
    assert.match(String(dropped.reason), /HTTP 400/);
    assert.deepEqual(await syncedRows(sql, echo.uid), []);
  });

  it('leaves no duplicates, an empty queue, and metrics that add up', async () => {
    assert.deepEqual(await duplicateGuests(sql), []);
    await until('an empty queue', async () => {
      const depth = await queueDepth(sqs, queue.url);
      return depth.visible === 0 && depth.inFlight === 0;
    });
    const { body } = await watch.get(`${worker.url}/metrics`);
    const metric = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(body)?.[1] ?? Number.NaN);
    assert.equal(metric('lgs_guests_skipped_total'), JUNK_ENTRIES.length);
    const served429 = luma.faultsServed.get('status') ?? 0;
    const rateLimited = metric('lgs_luma_rate_limited_total');
    assert.ok(rateLimited >= 9 && rateLimited <= served429, `${rateLimited} 429s counted`);
    figures.lumaRequests = luma.requests.length;
    figures.faultsServed = Object.fromEntries(luma.faultsServed);
    figures.rateLimitedCounted = rateLimited;
    // The transient events alone served three 5xx, a hang and a reset, each retried in place.
    const retries = [...body.matchAll(/^lgs_luma_retries_total\{kind="[a-z_]+"\} (\d+)$/gm)].reduce(
      (sum, m) => sum + Number(m[1]),
      0,
    );
    assert.ok(retries >= 5, `${retries} retries counted`);
    figures.retriesCounted = retries;
    await watch.get(`${worker.url}/readyz`);
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
    console.log(`# luma-faults figures ${JSON.stringify(figures)}`);
  });

  it('never shows the Luma key or the database password, even when Luma echoes the key', () => {
    assert.ok(luma.requests.every((r) => r.apiKey === SECRET_LUMA_KEY));
    const seen = watch.assertNoSecrets();
    console.log(`# luma-faults leak check ${JSON.stringify(seen)}`);
    assert.ok(seen.lines > 200, JSON.stringify(seen));
  });
});
