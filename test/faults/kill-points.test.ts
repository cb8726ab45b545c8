/**
 * kill -9 of a real worker at ten chosen points of a six-page sync, then a fresh worker:
 * the message comes back, and every event ends with exactly the rows of a clean run.
 *
 * Each point is made deterministic by holding one event at it: a Luma request that is not
 * answered (between pages), or a row lock / uncommitted conflicting row held by the test
 * (inside a page insert, before guestLastSyncedAt, inside the post-sync push refresh).
 * All ten events run in the same worker and are at their points when it is killed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import * as s from '../../src/db/schema.ts';
import type { SimGuest } from '../../src/local/luma-simulator.ts';
import { createTestDatabase } from '../support/db.ts';
import { testEnv } from '../support/env.ts';
import {
  activeWorkerBackends,
  blockedBy,
  completingReceiveCount,
  createGate,
  createLeakWatch,
  directoryRows,
  duplicateGuests,
  type Hold,
  holdInTransaction,
  lastSyncedAt,
  logs,
  SECRET_LUMA_KEY,
  sendSync,
  startFaultyLuma,
  syncedRows,
  until,
  urlWithSecretPassword,
} from '../support/faults.ts';
import { seedEvent, seedGuest, seedMember, seedTeam } from '../support/seed.ts';
import { seedNotification, setPushConfigs } from '../support/seed-push.ts';
import { createFifoQueue, createTestSqs } from '../support/sqs-queue.ts';
import type { WorkerProcess } from '../support/worker-process.ts';

const PAGE_SIZE = 10;
const GUESTS = 60; // six pages
const VISIBILITY_SECONDS = 5;
/**
 * The killed worker's claims must be free when its messages come back: a claim lapses at
 * most a lease after its last renewal (3 s), a message reappears at least visibility minus
 * one heartbeat interval (5 - 1 s) after the kill.
 */
const LEASE_SECONDS = 3;

const database = await createTestDatabase({ label: 'faults_kill' });
const { db, sql } = database;
const sqs = createTestSqs();
const queue = await createFifoQueue(sqs, {
  label: 'faults-kill',
  visibilityTimeout: VISIBILITY_SECONDS,
  maxReceiveCount: 6,
});
const lumaEvents: Record<string, SimGuest[]> = {};
const luma = await startFaultyLuma({ events: lumaEvents, apiKey: SECRET_LUMA_KEY });
const watch = createLeakWatch();
const env = {
  DATABASE_URL: await urlWithSecretPassword(testEnv('adminDatabaseUrl'), database.url),
  DATABASE_POOL_MAX: '20',
  AWS_ENDPOINT_URL_SQS: testEnv('sqsEndpoint'),
  PL_EVENT_GUEST_SYNC_QUEUE_URL: queue.url,
  PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED: 'true',
  PL_EVENT_GUEST_SYNC_CONCURRENCY: '10',
  PL_EVENT_GUEST_SYNC_WAIT_TIME_SECONDS: '1',
  PL_EVENT_GUEST_SYNC_VISIBILITY_TIMEOUT_SECONDS: String(VISIBILITY_SECONDS),
  LUMA_API_URL: luma.url,
  LUMA_API_KEY: SECRET_LUMA_KEY,
  LUMA_PAGE_SIZE: String(PAGE_SIZE),
  LUMA_RATE_LIMIT_PER_MINUTE: '100000',
  SHUTDOWN_GRACE_MS: '2000',
  SYNC_CLAIM_LEASE_SECONDS: String(LEASE_SECONDS),
};

/**
 * One guest list for every event: members with and without a main team, a deleted member,
 * guests unknown to the directory, case and whitespace in emails, a member listed twice on
 * one page and again on a later page, and a member the directory already lists.
 */
const teams = { main: await seedTeam(db), other: await seedTeam(db) };
const memberByIndex = new Map<number, { uid: string; mainTeamUid: string | null }>();
for (let i = 0; i < GUESTS; i++) {
  if (i % 3 === 2) continue; // a guest without a directory account
  const mainTeamUid = i % 2 === 0 ? teams.main.uid : undefined;
  const member = await seedMember(db, {
    email: `Kill${i}@Example.ORG`,
    mainTeamUid,
    otherTeamUids: i % 4 === 1 ? [teams.other.uid] : [],
    deletedAt: i === 7 ? new Date() : undefined,
  });
  if (i !== 7) memberByIndex.set(i, { uid: member.uid, mainTeamUid: mainTeamUid ?? null });
}
const LISTED_BY_DIRECTORY = 10;
const guestList: SimGuest[] = Array.from({ length: GUESTS }, (_, i) => {
  let email = i % 5 === 0 ? `  KILL${i}@EXAMPLE.ORG\t` : `kill${i}@example.org`;
  if (i === 14) email = 'KILL13@example.ORG'; // member 13 twice on page 2: the first guest id wins
  if (i === 25) email = 'kill5@example.org'; // member 5 again on page 3: already added on page 1
  return { id: `gst-${i}`, email, name: `Guest ${i}` };
});

/** The rows a correct sync leaves, worked out from the fixture alone: guests [0, upTo). */
function expectedRows(upTo = GUESTS): string[] {
  const emailToIndex = new Map([...memberByIndex.keys()].map((i) => [`kill${i}@example.org`, i]));
  const taken = new Set<number>([LISTED_BY_DIRECTORY]);
  const rows: string[] = [];
  for (const [i, guest] of guestList.slice(0, upTo).entries()) {
    const index = emailToIndex.get(guest.email.trim().toLowerCase());
    if (index === undefined || taken.has(index)) continue;
    taken.add(index);
    const member = memberByIndex.get(index)!;
    rows.push(`${member.uid}|${member.mainTeamUid ?? '-'}|gst-${i}`);
  }
  return rows.sort();
}
const throughPage = (page: number) => expectedRows(page * PAGE_SIZE);

await setPushConfigs(db, { enabled: true, minAttendeesPerEvent: 1, upcomingWindowDays: 7, reminderDaysBefore: 3 });

async function seedSyncEvent(label: string) {
  const event = await seedEvent(db, { name: `Kill point ${label}` });
  lumaEvents[event.externalEventId!] = guestList;
  await seedGuest(db, {
    eventUid: event.uid,
    locationUid: event.locationUid!,
    memberUid: memberByIndex.get(LISTED_BY_DIRECTORY)!.uid,
    isHost: true,
    reason: 'keynote',
  });
  const notification = await seedNotification(db, {
    isSent: true,
    sentAt: new Date(),
    metadata: {
      version: 1,
      gatheringUid: event.locationUid,
      ruleKind: 'UPCOMING',
      events: { total: 1 },
      attendees: { total: 0, topAttendees: [] },
    },
  });
  return { ...event, notificationUid: notification.uid };
}
type SyncEvent = Awaited<ReturnType<typeof seedSyncEvent>>;

interface KillPoint {
  name: string;
  event: SyncEvent;
  /** Arms the point before the message is sent. */
  arm(): Promise<void>;
  /** Resolves once the worker is held at the point. */
  reached(worker: WorkerProcess): Promise<unknown>;
  /** Checks what the killed worker left, holds still in place. */
  leftBehind(): Promise<void>;
  disarm(): Promise<void>;
  killedAt?: number;
}

const holds: Hold[] = [];
after(async () => {
  for (const hold of holds) await hold.release().catch(() => {});
});

/** Holds the Luma request for `page` unanswered; the worker has processed every page before it. */
function betweenPages(name: string, event: SyncEvent, page: number): KillPoint {
  const ext = event.externalEventId!;
  const gate = createGate(); // never opened: the killed worker's request is dropped
  return {
    name,
    event,
    arm: async () => luma.script(ext, (r) => (r.page === page ? { kind: 'hold', until: gate.opened } : undefined)),
    reached: (worker) =>
      Promise.all([
        page > 1 ? worker.waitForLog(logs.pageProcessed(event.uid, page - 1)) : undefined,
        luma.waitForRequest((r) => r.eventId === ext && r.page === page),
      ]),
    async leftBehind() {
      assert.deepEqual(
        await syncedRows(sql, event.uid),
        throughPage(page - 1),
        `${name}: rows of pages 1..${page - 1} only`,
      );
      assert.equal(await lastSyncedAt(sql, event.uid), null, `${name}: guestLastSyncedAt unchanged`);
    },
    disarm: async () => luma.script(ext, undefined),
  };
}

/** Holds the database statement `setup` conflicts with; the worker waits on the lock. */
function atStatement(
  name: string,
  event: SyncEvent,
  setup: (tx: Parameters<Parameters<typeof holdInTransaction>[1]>[0]) => Promise<unknown>,
  leftBehind: () => Promise<void>,
): KillPoint {
  let hold: Hold | undefined;
  return {
    name,
    event,
    async arm() {
      hold = await holdInTransaction(sql, setup);
      holds.push(hold);
    },
    reached: () =>
      until(`${name}: the worker blocked on the test's lock`, async () => (await blockedBy(sql, hold!.pid)) > 0),
    leftBehind,
    disarm: async () => hold?.release(),
  };
}

const clean = await seedSyncEvent('clean');
const events = await Promise.all(Array.from({ length: 10 }, (_, i) => seedSyncEvent(String(i + 1))));
const [e1, e2, e3, e4, e5, e6, e7, e8, e9, e10] = events;
const p3Member = expectedRows(30)
  .find((row) => !throughPage(2).includes(row))!
  .split('|')[0]!;
const fullRows = expectedRows();

const points: KillPoint[] = [
  betweenPages('1 before the first write (page 1 requested)', e1!, 1),
  betweenPages('2 between pages 1 and 2', e2!, 2),
  betweenPages('3 between pages 2 and 3', e3!, 3),
  atStatement(
    '4 inside the insert of page 3',
    e4!,
    // An uncommitted synced row for a member of page 3: the worker's insert waits on the unique index.
    (
      tx,
    ) => tx`INSERT INTO "PLEventGuest" ("uid", "eventUid", "locationUid", "memberUid", "externalGuestId", "updatedAt")
      VALUES ('hold-p4', ${e4!.uid}, ${e4!.locationUid}, ${p3Member}, 'gst-held', now())`,
    async () => {
      assert.deepEqual(await syncedRows(sql, e4!.uid), throughPage(2), 'page 3 not committed while its insert waits');
      assert.equal(await lastSyncedAt(sql, e4!.uid), null);
    },
  ),
  betweenPages('5 between pages 4 and 5', e5!, 5),
  betweenPages('6 between pages 5 and 6 (the last page requested)', e6!, 6),
  atStatement(
    '7 after the last page, at the guestLastSyncedAt update',
    e7!,
    (tx) => tx`SELECT 1 FROM "PLEvent" WHERE uid = ${e7!.uid} FOR NO KEY UPDATE`,
    async () => {
      assert.deepEqual(await syncedRows(sql, e7!.uid), fullRows, 'every page written');
      assert.equal(await lastSyncedAt(sql, e7!.uid), null, 'guestLastSyncedAt not moved before its update commits');
    },
  ),
  atStatement(
    '8 inside post-sync: the push-candidate upsert',
    e8!,
    (tx) => tx`INSERT INTO "IrlGatheringPushCandidate"
        ("uid", "ruleKind", "gatheringUid", "eventUid", "eventStartDate", "eventEndDate", "attendeeCount", "updatedAt")
      VALUES ('hold-p8', 'UPCOMING', ${e8!.locationUid}, ${e8!.uid}, ${e8!.startDate.toISOString()}::timestamp(3),
        ${e8!.endDate.toISOString()}::timestamp(3), 0, now())`,
    async () => {
      assert.deepEqual(await syncedRows(sql, e8!.uid), fullRows);
      // The business flow's post-sync order: guestLastSyncedAt first, then the push refresh.
      assert.notEqual(await lastSyncedAt(sql, e8!.uid), null);
      const candidates = await db
        .select()
        .from(s.irlGatheringPushCandidate)
        .where(eq(s.irlGatheringPushCandidate.eventUid, e8!.uid));
      assert.equal(candidates.length, 0, 'no candidate committed while the upsert waits');
    },
  ),
  atStatement(
    '9 inside post-sync: the sent-notification refresh',
    e9!,
    (tx) => tx`SELECT 1 FROM "PushNotification" WHERE uid = ${e9!.notificationUid} FOR UPDATE`,
    async () => {
      assert.deepEqual(await syncedRows(sql, e9!.uid), fullRows);
      const [n] = await db.select().from(s.pushNotification).where(eq(s.pushNotification.uid, e9!.notificationUid));
      assert.equal(
        (n!.metadata as { attendees: { total: number } }).attendees.total,
        0,
        'notification not yet rewritten',
      );
    },
  ),
  // Killed twice: here on the first delivery, then between pages 4 and 5 on the redelivery.
  betweenPages('10 between pages 2 and 3, then again between 4 and 5', e10!, 3),
];

describe('kill -9 at ten points of a six-page sync', () => {
  const directoryBefore: { rows?: string } = {};
  const figures: Record<string, unknown> = {};

  before(async () => {
    directoryBefore.rows = await directoryRows(sql);
  });

  it('a clean run writes exactly the rows worked out from the fixture', async () => {
    // A queue of its own: the long polls of a stopped worker stay open at the server for up
    // to WaitTimeSeconds, and a message sent meanwhile is handed to them and stranded for a
    // visibility timeout, which would blur the receive counts the next test asserts.
    const cleanQueue = await createFifoQueue(sqs, {
      label: 'faults-kill-clean',
      visibilityTimeout: VISIBILITY_SECONDS,
    });
    const worker = await watch.startWorker({ ...env, PL_EVENT_GUEST_SYNC_QUEUE_URL: cleanQueue.url });
    await worker.waitUntilReady();
    await sendSync(sqs, cleanQueue.url, clean);
    const done = await worker.waitForLog(logs.syncComplete(clean.uid));
    assert.equal(done.pages, 6);
    assert.deepEqual(await syncedRows(sql, clean.uid), fullRows);
    // Fixture sanity: 40 members, less the deleted one, the one the directory lists, and
    // member 25, whose guest carries member 5's email.
    assert.equal(fullRows.length, 37);
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
  });

  it('after kill -9 at each point, a new worker completes every event with the clean rows', async () => {
    const w1 = await watch.startWorker(env);
    await w1.waitUntilReady();
    for (const point of points) await point.arm();
    for (const point of points) await sendSync(sqs, queue.url, point.event);
    await Promise.all(points.map((p) => p.reached(w1)));
    await watch.get(`${w1.url}/readyz`);
    await watch.get(`${w1.url}/metrics`);

    const killedAt = Date.now();
    w1.child.kill('SIGKILL');
    assert.equal(await w1.exited, 'SIGKILL');
    assert.ok(
      points.every((p) => !w1.lines.some(logs.syncComplete(p.event.uid))),
      'no held event completed',
    );
    for (const point of points) await point.leftBehind();

    // The holds go; statements the dead worker had sent finish on their own (at-least-once
    // on the database side too), then a second worker takes the redelivered messages.
    for (const point of points) await point.disarm();
    figures.orphanStatementsDrainedMs = await until(
      'orphaned statements',
      async () => (await activeWorkerBackends(sql)) === 0,
    );
    // Point 4's orphans: page 3's statement, and page 4's when the worker had read page 4
    // before it died (it sends a page's statement behind the running one). Each commits in
    // page order, or not at all: the rows are pages 1 to 2, 3 or 4, never a gap.
    const fourAfterOrphan = await syncedRows(sql, e4!.uid);
    const committedThrough = [2, 3, 4].find(
      (page) => JSON.stringify(fourAfterOrphan) === JSON.stringify(throughPage(page)),
    );
    assert.ok(committedThrough !== undefined, `the orphans left whole pages: ${fourAfterOrphan.length} rows`);

    figures.orphanCommittedPage3 = committedThrough >= 3;
    figures.orphanCommittedPage4 = committedThrough === 4;
    figures.orphanMovedGuestLastSyncedAt = (await lastSyncedAt(sql, e7!.uid)) !== null;

    // Point 10 is held again on the redelivery.
    const again = betweenPages('10 (redelivery)', e10!, 5);
    await again.arm();
    const w2 = await watch.startWorker(env);
    await Promise.all(points.slice(0, 9).map((p) => w2.waitForLog(logs.syncComplete(p.event.uid))));
    const recovery: Record<string, { ms: number; receiveCount: number | undefined }> = {};
    for (const point of points.slice(0, 9)) {
      const done = await w2.waitForLog(logs.syncComplete(point.event.uid));
      recovery[point.name] = {
        ms: Date.parse(String(done.time)) - killedAt,
        receiveCount: completingReceiveCount(w2, point.event.uid),
      };
    }
    await again.reached(w2);
    await watch.get(`${w2.url}/readyz`);
    const secondKill = Date.now();
    w2.child.kill('SIGKILL');
    await w2.exited;
    await again.leftBehind();
    await again.disarm();

    const w3 = await watch.startWorker(env);
    const done10 = await w3.waitForLog(logs.syncComplete(e10!.uid));
    recovery[points[9]!.name] = {
      ms: Date.parse(String(done10.time)) - secondKill,
      receiveCount: completingReceiveCount(w3, e10!.uid),
    };
    await watch.get(`${w3.url}/metrics`);
    figures.recovery = recovery;

    for (const point of points) {
      assert.deepEqual(await syncedRows(sql, point.event.uid), await syncedRows(sql, clean.uid), `${point.name}: rows`);
      assert.notEqual(await lastSyncedAt(sql, point.event.uid), null, `${point.name}: guestLastSyncedAt`);
    }
    // Every message was redelivered once (receive 2): the first worker had no poll open when
    // killed. Point 10 twice; its second killed worker had idle pollers, whose open long
    // polls can swallow the message for one more visibility timeout (receive 4).
    // One more receive is allowed only as a refusal: on a loaded machine a redelivery can
    // still meet the killed worker's claim in its last moments (lease vs visibility timeout).
    const refused = (uid: string) =>
      w2.lines.some((l) => l.msg === 'sync refused: the event is being synced elsewhere' && l.groupId === uid);
    for (const point of points.slice(0, 9)) {
      const count = recovery[point.name]!.receiveCount;
      if (count === 3 && refused(point.event.uid)) continue;
      assert.equal(count, 2, point.name);
    }
    assert.ok([3, 4].includes(recovery[points[9]!.name]!.receiveCount!));
    w3.child.kill('SIGTERM');
    assert.equal(await w3.exited, 0);
  });

  it('leaves no duplicate and no touched directory row, and refreshes the push data as a clean run does', async () => {
    assert.deepEqual(await duplicateGuests(sql), []);
    assert.equal(await directoryRows(sql), directoryBefore.rows);
    const cleanCandidates = await db
      .select()
      .from(s.irlGatheringPushCandidate)
      .where(eq(s.irlGatheringPushCandidate.eventUid, clean.uid));
    assert.deepEqual(cleanCandidates.map((c) => [c.ruleKind, c.attendeeCount]).sort(), [
      ['REMINDER', fullRows.length + 1],
      ['UPCOMING', fullRows.length + 1],
    ]);
    const [cleanNotification] = await db
      .select()
      .from(s.pushNotification)
      .where(eq(s.pushNotification.uid, clean.notificationUid));
    const attendeesOf = (n: typeof cleanNotification) =>
      (n!.metadata as { attendees: { total: number } }).attendees.total;
    assert.ok(attendeesOf(cleanNotification) > 0);
    for (const point of points) {
      const candidates = await db
        .select()
        .from(s.irlGatheringPushCandidate)
        .where(eq(s.irlGatheringPushCandidate.eventUid, point.event.uid));
      assert.deepEqual(
        candidates.map((c) => [c.ruleKind, c.attendeeCount]).sort(),
        cleanCandidates.map((c) => [c.ruleKind, c.attendeeCount]).sort(),
        `${point.name}: candidates`,
      );
      const [n] = await db
        .select()
        .from(s.pushNotification)
        .where(eq(s.pushNotification.uid, point.event.notificationUid));
      assert.equal(attendeesOf(n), attendeesOf(cleanNotification), `${point.name}: notification`);
    }
    console.log(`# kill-points figures ${JSON.stringify(figures)}`);
  });

  it('never shows the Luma key or the database password, and sent the key on every Luma request', () => {
    const seen = watch.assertNoSecrets();
    assert.ok(seen.lines > 200, `looked at ${seen.lines} log lines`);
    // Fewer than the 100-odd before issue 19: the redeliveries resume at their checkpoints.
    assert.ok(luma.requests.length > 50, `${luma.requests.length} Luma requests`);
    assert.ok(luma.requests.every((r) => r.apiKey === SECRET_LUMA_KEY));
    console.log(`# kill-points leak check ${JSON.stringify({ ...seen, lumaRequests: luma.requests.length })}`);
  });
});
