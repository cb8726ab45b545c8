/**
 * One level up from frozen-database.test.ts: the consumer, on a real SQS server, syncs an
 * event whose database goes silent (a relay frozen in both directions, no FIN, no RST)
 * while page 3's statement is in flight, and records the attempt on the same pool, as the
 * daemon does. The message must come back to the queue within bounded time: before, the
 * sync and then its history row waited for the silent connection while the visibility
 * heartbeat kept the message hidden, until TCP gave up (minutes). Lease 3 s, visibility
 * 3 s with a 1 s heartbeat, history wait 1 s. Directly, and through PgBouncer (transaction
 * mode) with the link frozen between the pool and PgBouncer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
import { frozenRoutes, poolThroughFreezableLink } from '../support/freezable-link.ts';
import { guestsOf, seedEvent, seedMember } from '../support/seed.ts';
import { captureLogger, createFifoQueue, createTestSqs, queueDepth } from '../support/sqs-queue.ts';

const database = await createTestDatabase({ label: 'frozen_consumer' });
const { db, sql } = database;
const sqs = createTestSqs();

/** Generous for a busy machine, and still far below TCP's minutes. */
const BOUND_MS = 40_000;

for (const route of frozenRoutes(database)) {
  describe(`the consumer, when the database goes silent mid-sync, ${route.name}`, () => {
    it('gives the message back within bounded time; redelivered once the database answers, it completes', async (t) => {
      const event = await seedEvent(db);
      const members = await Promise.all([1, 2, 3, 4, 5].map(() => seedMember(db)));
      const externalEventId = event.externalEventId!;
      // The daemon's default pool: the sync and the history share it.
      const { link, handle: worker } = await poolThroughFreezableLink(route.url, 5, route.pooler);

      let frozenAt = 0;
      const luma = await startFaultyLuma({
        events: { [externalEventId]: members.map((m, i) => ({ id: `gst-${i + 1}`, email: m.email! })) },
        apiKey: SIM_API_KEY,
      });
      luma.script(externalEventId, (request) => {
        if (request.page !== 3 || frozenAt) return undefined;
        // Page 3 is answered once page 2 is written and the link is frozen: its statement goes into the silence.
        const frozen = until('page 2 to be written', async () => {
          const [row] = await sql<{ pages_done: number }[]>`
            SELECT pages_done FROM luma_guest_sync.event_claim WHERE event_uid = ${event.uid}`;
          return row?.pages_done === 2;
        }).then(() => {
          link.freeze();
          frozenAt = performance.now();
        });
        return { kind: 'hold', until: frozen };
      });
      const base = loadConfig({ LUMA_API_KEY: SIM_API_KEY }).luma;
      const provider = createLumaProvider({
        config: { ...base, apiUrl: luma.url, pageSize: 1 },
        limiter: createRateLimiter({ perMinute: 1_000_000 }),
        log: silentLogger,
        sleep: async () => {},
      });
      const recorded = createRecordedSync({
        sync: {
          db: worker.db,
          providers: createProviderRegistry([provider]),
          log: silentLogger,
          claim: { leaseSeconds: 3, holder: 'frozen-consumer:1' },
        },
        history: { sql: worker.sql, retentionDays: 30, log: silentLogger, recordWaitMs: 1_000 },
        metrics: createMetrics(),
        counted: new WeakSet(),
      });

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
            // The redelivery: the database answers again.
            if (attempts.length > 1) link.thaw();
            try {
              const result = await recorded(message, signal);
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
          visibilityTimeoutSeconds: 3,
          heartbeatIntervalSeconds: 1,
          waitTimeSeconds: 1,
          onResult: (r) => results.push(r),
        },
      );
      consumer.start();
      t.after(() => consumer.stop({ graceMs: 0 }));

      await until('the message to be received again', () => attempts.length >= 2, BOUND_MS);
      const backAfterMs = attempts[1]!.at - frozenAt;
      t.diagnostic(`${route.name}: redelivered ${Math.round(backAfterMs)} ms after the freeze`);
      assert.equal(attempts[0]!.outcome, 'claim_lost');
      assert.ok(
        lines.some((l) => l.msg === 'sync failed: message left for redelivery' && l.kind === 'claim_lost'),
        'the first attempt is left for redelivery as a retryable failure',
      );

      await until('the redelivered sync to complete', () => results.length === 1, BOUND_MS);
      assert.equal(results[0]?.resumedAtPage, 3);
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
      const outcomes = (await eventHistory(sql, event.uid)).map((h) => h.outcome).sort();
      assert.deepEqual(outcomes, ['failure', 'success']);
    });
  });
}
