/**
 * One level up from frozen-database.test.ts, frozen-grant.test.ts and
 * frozen-finish.test.ts: the consumer, on a real SQS server, syncs an event whose database
 * goes silent (a relay frozen in both directions, no FIN, no RST) at one of a sync's three
 * waits, and records the attempt on the same pool, as the daemon does:
 * - while the sync takes its claim (no lease bounds that wait yet: take-claim.ts);
 * - while page 3's statement is in flight (the claim's renewals stop reaching it);
 * - during the finish, after the last page (the renewals have stopped: database-silence.ts).
 * The message must come back to the queue within bounded time, and its redelivery, once
 * the database answers, must complete: before, the sync and then its history row waited
 * for the silent connection while the visibility heartbeat kept the message hidden, until
 * TCP gave up (minutes). Lease 3 s for the first attempt (60 s for the redelivery, which
 * must complete), visibility 6 s with a 1 s heartbeat, history wait 1 s. Directly, and
 * through PgBouncer (transaction mode) with the link frozen between the pool and PgBouncer.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { loadConfig } from '../../src/config/config.ts';
import { SyncConsumer } from '../../src/consume/consumer.ts';
import { eventHistory } from '../../src/history/queries.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { SIM_API_KEY } from '../../src/local/luma-simulator.ts';
import { silentLogger } from '../../src/log.ts';
import { createLumaProvider } from '../../src/providers/luma.ts';
import { createRateLimiter } from '../../src/providers/rate-limit.ts';
import { createProviderRegistry } from '../../src/providers/registry.ts';
import { createRecordedSync } from '../../src/recorded-sync.ts';
import type { SyncMessage, SyncResult } from '../../src/sync/types.ts';
import { createTestDatabase } from '../support/db.ts';
import { sendSync, startFaultyLuma, until } from '../support/faults.ts';
import { type FreezableLink, frozenRoutes, poolThroughFreezableLink } from '../support/freezable-link.ts';
import { guestsOf, seedEvent, seedMember } from '../support/seed.ts';
import { captureLogger, createFifoQueue, createTestSqs, queueDepth } from '../support/sqs-queue.ts';

const database = await createTestDatabase({ label: 'frozen_consumer' });
const { db, sql } = database;
const sqs = createTestSqs();

/** Generous for a busy machine, and still far below TCP's minutes. */
const BOUND_MS = 40_000;
/** The first attempt's lease: it bounds the waits that attempt is frozen in. */
const LEASE_SECONDS = 3;
/**
 * The redelivery's: it must complete, and its lease is not under test. A 3 s one, renewed every
 * second, runs out in a 2 s stall of a loaded machine (docs/load-flakes.md), and the message
 * comes back a third time.
 */
const REDELIVERY_LEASE_SECONDS = 60;

/** Where the first attempt finds the database silent, and how that attempt ends. */
interface FreezePoint {
  name: string;
  kind: string;
  /** The page the redelivery resumes at, when it resumes. */
  resumedAtPage?: number;
}

const FREEZE_POINTS: FreezePoint[] = [
  { name: 'while the sync takes its claim', kind: 'database_silent' },
  { name: "while page 3's statement is in flight", kind: 'claim_lost', resumedAtPage: 3 },
  { name: 'during the finish', kind: 'database_silent' },
];

for (const route of frozenRoutes(database)) {
  describe(`the consumer, when the database goes silent, ${route.name}`, () => {
    for (const point of FREEZE_POINTS) {
      it(`${point.name}: gives the message back within bounded time as ${point.kind}; redelivered once the database answers, it completes`, async (t) => {
        await silentOnce(t, route, point);
      });
    }
  });
}

async function silentOnce(t: TestContext, route: ReturnType<typeof frozenRoutes>[number], point: FreezePoint) {
  const event = await seedEvent(db);
  const members = await Promise.all([1, 2, 3, 4, 5].map(() => seedMember(db)));
  const externalEventId = event.externalEventId!;
  // The daemon's default pool: the sync and the history share it.
  const { link, handle: worker } = await poolThroughFreezableLink(route.url, 5, route.pooler);
  // A connection of the pool is open and idle: the first statement goes out on it, into the silence.
  await worker.sql`SELECT 1`;

  let frozenAt = 0;
  const freeze = () => {
    link.freeze();
    frozenAt = performance.now();
  };
  const luma = await startFaultyLuma({
    events: { [externalEventId]: members.map((m, i) => ({ id: `gst-${i + 1}`, email: m.email! })) },
    apiKey: SIM_API_KEY,
  });
  if (point.resumedAtPage === 3) {
    luma.script(externalEventId, (request) => {
      if (request.page !== 3 || frozenAt) return undefined;
      // Page 3 is answered once page 2 is written and the link is frozen: its statement goes into the silence.
      const frozen = until('page 2 to be written', async () => (await claimRow(event.uid))?.pages_done === 2).then(
        freeze,
      );
      return { kind: 'hold', until: frozen };
    });
  }
  const base = loadConfig({ LUMA_API_KEY: SIM_API_KEY }).luma;
  const provider = createLumaProvider({
    config: { ...base, apiUrl: luma.url, pageSize: 1 },
    limiter: createRateLimiter({ perMinute: 1_000_000 }),
    log: silentLogger,
    sleep: async () => {},
  });
  // The same worker, its claim's lease the only difference between the attempts.
  const metrics = createMetrics();
  const counted = new WeakSet<object>();
  const recordedSync = (leaseSeconds: number) =>
    createRecordedSync({
      sync: {
        db: worker.db,
        providers: createProviderRegistry([provider]),
        log: silentLogger,
        claim: { leaseSeconds, holder: 'frozen-consumer:1' },
        hooks: {
          beforeFinish: async () => {
            if (point.name === 'during the finish' && !frozenAt) freeze();
          },
        },
      },
      history: { sql: worker.sql, retentionDays: 30, log: silentLogger, recordWaitMs: 1_000 },
      metrics,
      counted,
    });
  const firstAttempt = recordedSync(LEASE_SECONDS);
  const redelivery = recordedSync(REDELIVERY_LEASE_SECONDS);

  const queue = await createFifoQueue(sqs, { label: `frozen-consumer-${route.pooler}` });
  await sendSync(sqs, queue.url, event);
  const { log, lines } = captureLogger();
  const attempts: Array<{ at: number; outcome?: string }> = [];
  const results: SyncResult[] = [];
  const consumer = new SyncConsumer(
    {
      sqs,
      queueUrl: queue.url,
      log,
      sync: async (message: SyncMessage, signal: AbortSignal) => {
        const attempt: { at: number; outcome?: string } = { at: performance.now() };
        attempts.push(attempt);
        if (attempts.length === 1 && point.name === 'while the sync takes its claim') freeze();
        // The redelivery: the database answers again.
        if (attempts.length > 1) await answerAgain(link, event.uid);
        try {
          const result = await (attempts.length === 1 ? firstAttempt : redelivery)(message, signal);
          attempt.outcome = 'success';
          return result;
        } catch (err) {
          attempt.outcome = (err as { kind?: string }).kind ?? String(err);
          throw err;
        }
      },
    },
    {
      concurrency: 1,
      // Held by a beat every second, a message is lost to a stall of the worker a little under
      // its visibility timeout (MessageLostError, and a third attempt): 6 s leaves the
      // redelivery room for a 5 s one, at the cost of 3 s more before the redelivery.
      visibilityTimeoutSeconds: 6,
      heartbeatIntervalSeconds: 1,
      waitTimeSeconds: 1,
      onResult: (r) => results.push(r),
    },
  );
  consumer.start();
  t.after(() => consumer.stop({ graceMs: 0 }));

  await until('the message to be received again', () => attempts.length >= 2, BOUND_MS);
  t.diagnostic(
    `${route.name}, ${point.name}: redelivered ${Math.round(attempts[1]!.at - frozenAt)} ms after the freeze`,
  );
  assert.ok(frozenAt > 0, 'the link was frozen');
  assert.equal(attempts[0]!.outcome, point.kind);
  assert.ok(
    lines.some((l) => l.msg === 'sync failed: message left for redelivery' && l.kind === point.kind),
    'the first attempt is left for redelivery as a retryable failure',
  );

  await until('the redelivered sync to complete', () => results.length === 1, BOUND_MS);
  assert.deepEqual(
    attempts.map((a) => a.outcome),
    [point.kind, 'success'],
  );
  assert.equal(results[0]?.resumedAtPage, point.resumedAtPage);
  const ids = (await guestsOf(db, event.uid)).map((r) => r.externalGuestId).sort();
  assert.deepEqual(ids, ['gst-1', 'gst-2', 'gst-3', 'gst-4', 'gst-5']);
  await until(
    'the message to be deleted',
    async () => {
      const depth = await queueDepth(sqs, queue.url);
      return depth.visible === 0 && depth.inFlight === 0;
    },
    BOUND_MS,
  );
  // Both attempts in the history, each once: the first written when the link thawed.
  await until('both attempts to be recorded', async () => (await eventHistory(sql, event.uid)).length === 2);
  const history = (await eventHistory(sql, event.uid)).map((h) => `${h.outcome} ${h.errorKind ?? ''}`.trim()).sort();
  assert.deepEqual(history, [`failure ${point.kind}`, 'success']);
}

/**
 * Thaws the link, then waits until the first attempt's claim is free: what the link held
 * is delivered first (a late grant, which the worker then releases; a late release or
 * finish, which its fence refuses), so the redelivery's own grant finds the claim as the
 * first attempt left it, not racing it.
 */
async function answerAgain(link: FreezableLink, eventUid: string): Promise<void> {
  link.thaw();
  await until(
    'the first attempt to leave the claim free',
    async () => (await claimRow(eventUid))?.free === true,
    BOUND_MS,
  );
}

async function claimRow(eventUid: string) {
  const [row] = await sql<{ pages_done: number | null; free: boolean }[]>`
    SELECT pages_done, expires_at <= clock_timestamp() AS free
    FROM luma_guest_sync.event_claim WHERE event_uid = ${eventUid}`;
  return row;
}
