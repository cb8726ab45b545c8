/**
 * The long-running worker, composed by hand in dependency order. Each resource's release
 * goes on the shutdown list as it is made; shutdown releases them in reverse: first the
 * intake stops (the crons stop firing and the consumer stops polling, all at once, so a
 * slow enqueue run cannot keep the consumer taking messages), then the webhook receiver,
 * the enqueue runs in progress and the in-flight syncs finish within what is left of the
 * one grace period, then the HTTP server, the SQS client, and the database last.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from './config/config.ts';
import { SyncConsumer } from './consume/consumer.ts';
import { queueProblem, resolveQueueUrl } from './consume/queue-url.ts';
import { createDatabase } from './db/client.ts';
import { warnWithoutDriverFixes } from './db/driver-fixes.ts';
import { surviveDriverStartupRejections } from './db/driver-rejections.ts';
import { probeDatabase } from './db/probe.ts';
import { checkWritable } from './db/read-only.ts';
import { checkSchema } from './db/schema-check.ts';
import { createHistoryBacklog } from './history/backlog.ts';
import { recordSyncAttempt } from './history/record-attempt.ts';
import { createMetrics } from './http/metrics.ts';
import { startQueueDepthPoller } from './http/queue-depth-poller.ts';
import { createReadiness, DetailError } from './http/readiness.ts';
import { registerScrapeGauges } from './http/scrape-gauges.ts';
import { startHttpServer } from './http/server.ts';
import type { Logger } from './log.ts';
import { createRecordedSync } from './recorded-sync.ts';
import { createScheduler, runEnqueue, type Scheduler } from './schedule/scheduler.ts';
import { createTierScheduler } from './schedule/tier-schedule.ts';
import { createShutdown } from './shutdown.ts';
import { countOverdueEvents } from './status/overdue.ts';
import { startWebhookReceiver } from './webhooks/receiver.ts';
import { createProviders, createSqsClient, createSyncDeps } from './wiring.ts';

/** Back-off between attempts to reach a dependency at start: 1 s doubling to 30 s. */
const BACKOFF = { firstMs: 1_000, maxMs: 30_000 };
const QUEUE_DEPTH_INTERVAL_MS = 30_000;
/** Of the grace, kept for closing the database after the history backlog's flush. */
const DATABASE_CLOSE_RESERVE_MS = 1_000;

export async function runDaemon(config: Readonly<Config>, log: Logger): Promise<void> {
  const shutdown = createShutdown({ log, graceMs: config.shutdownGraceMs });
  shutdown.installSignalHandlers();
  shutdown.register('driver rejection guard', surviveDriverStartupRejections(log));
  warnWithoutDriverFixes(log);

  const metrics = createMetrics();
  metrics.setRateBudget((config.luma.rateLimitPerMinute * 60_000) / config.luma.rateLimitWindowMs);
  let toldPooler = false;
  const database = createDatabase({
    url: config.database.url,
    poolMax: config.database.poolMax,
    pooler: config.database.pooler,
    // A read-only answer ended the pool's read-only sessions (read-only-sessions.ts).
    onReadOnlyRound: (round) => {
      if (round.pooler === 'transaction') {
        // Once: every refused statement and every probe would say it again.
        if (!toldPooler) {
          log.warn(
            { pooler: round.pooler },
            "read-only database behind a transaction-mode pooler: its server connections are the pooler's to renew (docs/operating.md, Switchover)",
          );
        }
        toldPooler = true;
      } else if (round.error) {
        log.warn({ err: round.error, ended: round.ended }, 'could not end the read-only database sessions');
      } else if (round.ended > 0) {
        log.warn(
          { ended: round.ended },
          'ended read-only database sessions: the pool connects again through DATABASE_URL',
        );
      }
    },
  });
  // Bounded by what is left of the grace (at least 0.5 s, at most 5 s): postgres.js waits
  // for a connection still retrying a database that is away, which must not hold the exit
  // past the deadline.
  shutdown.register('database', ({ remainingMs }) => database.close(Math.min(5, Math.max(0.5, remainingMs() / 1000))));
  const historyDeps = { sql: database.sql, retentionDays: config.history.retentionDays };
  // Released just before the database: the syncs have ended, so every attempt they
  // kept while the database was away is written now if it can be, or counted lost.
  const historyBacklog = createHistoryBacklog({
    write: (attempt, signal) => recordSyncAttempt(historyDeps, attempt, signal),
    log,
    onLost: (reason, count) => metrics.historyAttemptsLost(reason, count),
    onSize: (size) => metrics.setHistoryBacklog(size),
  });
  shutdown.register(
    'sync history backlog',
    // What is left of the grace, less a second for the database's close after it.
    async ({ remainingMs }) =>
      void (await historyBacklog.flush(Math.max(0, remainingMs() - DATABASE_CLOSE_RESERVE_MS))),
  );

  const needsQueue = config.enabled || config.consumer.enabled || config.webhook.enabled;
  const sqs: SQSClient | undefined = needsQueue ? createSqsClient(config) : undefined;
  if (sqs) shutdown.register('sqs client', () => sqs.destroy());
  let queueUrl: string | undefined;
  /** Why the latest queue lookup failed: /readyz says what the log says. */
  let queueLookupProblem: string | undefined;

  const readiness = createReadiness({
    sql: database.sql,
    checkSchema,
    checkWritable,
    isShuttingDown: shutdown.isShuttingDown,
    sqsPing: async (signal) => {
      if (!sqs) return;
      if (!queueUrl) {
        throw new DetailError(queueLookupProblem ?? 'queue not looked up yet: the worker is still starting');
      }
      try {
        await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }), {
          abortSignal: signal,
        });
      } catch (err) {
        // The sentence the consumer logs for the same failure, so the two agree.
        throw new DetailError(queueProblem(err, queueUrl));
      }
    },
  });
  registerScrapeGauges(metrics.registry, {
    readiness,
    countOverdueEvents: () => countOverdueEvents(database, new Date(), config.overdueAfterHours),
    overdueAfterHours: config.overdueAfterHours,
  });
  const http = await startHttpServer({ port: config.http.port, metrics, readiness, log });
  shutdown.register('http server', () => http.close());
  log.info(
    { port: http.port, scheduler: config.enabled, consumer: config.consumer.enabled, cron: config.cron },
    'luma-guest-sync starting',
  );

  const stopping = new AbortController();
  shutdown.register('startup waits', () => stopping.abort());
  // The worker never migrates on its own: it waits, unready, until someone runs db:migrate.
  await retryUntil(stopping.signal, log, 'directory schema', async () => {
    // Bounded by the connect timeout, and logged below when it fails: the pool's own
    // queries would wait forever on an endpoint that takes connections and closes them.
    await probeDatabase(config.database.url, { pooler: config.database.pooler });
    const schema = await checkSchema(database.sql);
    if (!schema.ok) throw new Error(schema.message);
  });
  if (sqs) {
    queueUrl = await retryUntil(
      stopping.signal,
      log,
      'queue',
      () => resolveQueueUrl(sqs, config.queue),
      (reason) => {
        queueLookupProblem = reason;
      },
    );
  }
  if (stopping.signal.aborted || !sqs || !queueUrl) return;
  const resolvedQueueUrl = queueUrl;

  const poller = startQueueDepthPoller({ sqs, queueUrl, metrics, intervalMs: QUEUE_DEPTH_INTERVAL_MS, log });
  shutdown.register('queue depth poller', () => poller.stop());

  let consumer: SyncConsumer | undefined;
  let scheduler: Scheduler | undefined;
  let tiers: Scheduler | undefined;
  if (config.consumer.enabled) {
    const providers = createProviders(config, database, log, {
      onRateLimited: () => metrics.rateLimited(),
      onRequest: () => metrics.lumaRequest(),
      onRetry: (kind) => metrics.lumaRetry(kind),
    });
    const deps = createSyncDeps(config, database, providers, log, { staleGuard: (r) => metrics.staleGuard(r) });
    const history = { ...historyDeps, log, backlog: historyBacklog };
    // Failures seen by the sync wrapper carry a duration; the others (unparseable
    // messages) are counted from the consumer's onFailure.
    const timed = new WeakSet<object>();
    consumer = new SyncConsumer(
      {
        sqs,
        queueUrl: resolvedQueueUrl,
        // SyncConsumer binds its own component; binding one here too would repeat the key.
        log,
        sync: createRecordedSync({ sync: deps, history, metrics, counted: timed }),
      },
      {
        concurrency: config.consumer.concurrency,
        visibilityTimeoutSeconds: config.consumer.visibilityTimeoutSeconds,
        waitTimeSeconds: config.consumer.waitTimeSeconds,
        poisonQueueUrl: config.queue.poisonUrl || undefined,
        onResult: (result) => metrics.recordSyncResult(result),
        onFailure: (err, info) => {
          if (!(err && typeof err === 'object' && timed.has(err))) metrics.recordSyncFailure(info.kind, 0);
        },
        onHeartbeatFailure: (reason) => metrics.heartbeatFailure(reason),
      },
    );
    consumer.start();
    const started = consumer;
    shutdown.register('consumer', async ({ remainingMs }) => void (await started.stop({ graceMs: remainingMs() })));
  }

  if (config.enabled) {
    scheduler = createScheduler({
      cron: config.cron,
      catchUpMs: config.cronCatchUpSeconds * 1000,
      log,
      enqueueOnce: async (slot, signal) => {
        const deps = { db: database.db, sqs, queueUrl: resolvedQueueUrl, log, concurrency: config.enqueueConcurrency };
        const run = await runEnqueue(deps, slot, { signal });
        metrics.recordEnqueueRun(run);
      },
      onOverlap: () => metrics.enqueueRunSkipped(),
      onMissed: () => metrics.enqueueSlotMissed(),
    });
    scheduler.start();
    const started = scheduler;
    shutdown.register('scheduler', ({ remainingMs }) => started.stop({ graceMs: remainingMs() }));
    if (config.tiers.enabled) {
      const tierScheduler = createTierScheduler({
        config,
        sql: database.sql,
        sqs,
        queueUrl: resolvedQueueUrl,
        log,
        onTick: (report) => metrics.recordTierTick(report),
      });
      tierScheduler.start();
      tiers = tierScheduler;
      shutdown.register('tier scheduler', ({ remainingMs }) => tierScheduler.stop({ graceMs: remainingMs() }));
    }
  }
  if (config.tiers.enabled && !config.enabled) {
    log.warn('PL_EVENT_GUEST_SYNC_TIERS_ENABLED is true but PL_EVENT_GUEST_SYNC_ENABLED is not: no tier ticks run');
  }
  if (config.webhook.enabled) {
    // A producer too: registered after the consumer, so it closes before the syncs are awaited.
    const receiver = await startWebhookReceiver({
      config,
      db: database.db,
      sqs,
      queueUrl: resolvedQueueUrl,
      log,
      onOutcome: (outcome) => metrics.webhookDelivery(outcome),
    });
    shutdown.register('webhook receiver', () => receiver.stop());
  }
  // Released first: neither side takes new work while the work in progress finishes.
  const intake = { scheduler, tiers, consumer };
  shutdown.register('intake', () => {
    intake.scheduler?.stopFiring();
    intake.tiers?.stopFiring();
    intake.consumer?.stopPolling();
  });
  log.info({ queueUrl: resolvedQueueUrl }, 'luma-guest-sync ready');
}

/**
 * Calls `attempt` until it succeeds or `signal` aborts, backing off between failures and
 * logging each one once: a dependency that is down at start makes the worker wait, not exit.
 */
async function retryUntil<T>(
  signal: AbortSignal,
  log: Logger,
  what: string,
  attempt: () => Promise<T>,
  onFailure?: (reason: string) => void,
): Promise<T | undefined> {
  let delay = BACKOFF.firstMs;
  for (let tries = 1; !signal.aborted; tries++) {
    try {
      return await attempt();
    } catch (err) {
      const reason = (err as Error).message;
      onFailure?.(reason);
      log.warn({ what, tries, retryInMs: delay, reason }, 'waiting for a dependency');
      await sleep(delay, undefined, { signal }).catch(() => {});
      delay = Math.min(delay * 2, BACKOFF.maxMs);
    }
  }
  return undefined;
}
