import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createMetrics } from '../../src/http/metrics.ts';
import { startQueueDepthPoller } from '../../src/http/queue-depth-poller.ts';
import { createFifoQueueWithDlq } from '../../src/local/local-queue.ts';
import type { SyncResult } from '../../src/sync/types.ts';
import { sample } from '../support/metrics-text.ts';
import { captureLogger, createFifoQueue, createTestSqs, waitFor } from '../support/sqs-queue.ts';

const sqs = createTestSqs();

function result(extra: Partial<SyncResult> = {}): SyncResult {
  return {
    eventUid: 'evt-1',
    providerType: 'LUMA',
    pages: 2,
    fetched: 150,
    matched: 40,
    created: 12,
    skipped: 3,
    removed: 1,
    dryRun: false,
    durationMs: 4_200,
    ...extra,
  };
}

describe('createMetrics', () => {
  it('counts guests and times the sync after recordSyncResult', async () => {
    const metrics = createMetrics({ now: () => 1_700_000_000_000 });
    metrics.recordSyncResult(result());
    metrics.recordSyncResult(result({ created: 3, removed: 0 }));
    const text = await metrics.registry.metrics();

    assert.equal(sample(text, 'lgs_guests_fetched_total'), 300);
    assert.equal(sample(text, 'lgs_guests_matched_total'), 80);
    assert.equal(sample(text, 'lgs_guests_created_total'), 15);
    assert.equal(sample(text, 'lgs_guests_skipped_total'), 6);
    assert.equal(sample(text, 'lgs_guests_removed_total'), 1);
    assert.equal(sample(text, 'lgs_sync_duration_seconds_count{outcome="success"}'), 2);
    assert.equal(sample(text, 'lgs_sync_duration_seconds_sum{outcome="success"}'), 8.4);
    assert.equal(sample(text, 'lgs_sync_duration_seconds_bucket{le="5",outcome="success"}'), 2);
    assert.equal(sample(text, 'lgs_sync_duration_seconds_bucket{le="1800",outcome="success"}'), 2);
    assert.equal(sample(text, 'lgs_last_successful_sync_timestamp_seconds'), 1_700_000_000);
  });

  it('records a dry run as a duration only, writing no guest counts', async () => {
    const metrics = createMetrics();
    metrics.recordSyncResult(result({ dryRun: true }));
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'lgs_guests_created_total'), 0);
    assert.equal(sample(text, 'lgs_sync_duration_seconds_count{outcome="dry_run"}'), 1);
    assert.equal(sample(text, 'lgs_last_successful_sync_timestamp_seconds'), 0);
  });

  it('counts failures by kind and times them under outcome="failure"', async () => {
    const metrics = createMetrics();
    metrics.recordSyncFailure('luma_auth', 250);
    metrics.recordSyncFailure('unexpected', 1_000);
    metrics.recordSyncFailure('unexpected', 2_000);
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'lgs_sync_errors_total{kind="luma_auth"}'), 1);
    assert.equal(sample(text, 'lgs_sync_errors_total{kind="unexpected"}'), 2);
    assert.equal(sample(text, 'lgs_sync_duration_seconds_count{outcome="failure"}'), 3);
  });

  it('reports scheduler runs, guards, Luma requests and queue depth', async () => {
    const metrics = createMetrics({ now: () => 1_700_000_000_000 });
    metrics.recordEnqueueRun({ enqueued: 7, failed: 1 });
    metrics.recordEnqueueRun({ enqueued: 4, failed: 0 });
    metrics.enqueueRunSkipped();
    metrics.staleGuard('share_exceeded');
    metrics.lumaRequest();
    metrics.lumaRequest();
    metrics.rateLimited();
    metrics.lumaRetry('luma_timeout');
    metrics.setQueueDepth(5, 2);
    metrics.setRateBudget(180);
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'lgs_events_enqueued_total'), 11);
    assert.equal(sample(text, 'lgs_events_enqueue_failed_total'), 1);
    assert.equal(sample(text, 'lgs_enqueue_last_run_events'), 4);
    assert.equal(sample(text, 'lgs_enqueue_last_run_timestamp_seconds'), 1_700_000_000);
    assert.equal(sample(text, 'lgs_luma_rate_budget_per_minute'), 180);
    assert.equal(sample(text, 'lgs_enqueue_runs_skipped_total'), 1);
    assert.equal(sample(text, 'lgs_stale_removal_guard_total{reason="share_exceeded"}'), 1);
    assert.equal(sample(text, 'lgs_stale_removal_guard_total{reason="empty_list"}'), 0);
    assert.equal(sample(text, 'lgs_luma_requests_total'), 2);
    assert.equal(sample(text, 'lgs_luma_rate_limited_total'), 1);
    assert.equal(sample(text, 'lgs_luma_retries_total{kind="luma_timeout"}'), 1);
    assert.equal(sample(text, 'lgs_sqs_queue_depth{state="visible"}'), 5);
    assert.equal(sample(text, 'lgs_sqs_queue_depth{state="in_flight"}'), 2);
  });

  it('counts missed cron slots and failed heartbeats by reason, every reason starting at 0', async () => {
    const metrics = createMetrics();
    metrics.enqueueSlotMissed();
    metrics.heartbeatFailure('unreachable');
    metrics.heartbeatFailure('unreachable');
    metrics.heartbeatFailure('receipt_invalid');
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'lgs_enqueue_slots_missed_total'), 1);
    assert.equal(sample(text, 'lgs_sqs_heartbeat_failures_total{reason="unreachable"}'), 2);
    assert.equal(sample(text, 'lgs_sqs_heartbeat_failures_total{reason="receipt_invalid"}'), 1);
    assert.equal(sample(text, 'lgs_sqs_heartbeat_failures_total{reason="rejected"}'), 0);
  });

  it('counts history attempts lost by reason, every reason starting at 0, and shows the backlog', async () => {
    const metrics = createMetrics();
    let text = await metrics.registry.metrics();
    assert.equal(sample(text, 'lgs_sync_history_lost_total{reason="shutdown"}'), 0);
    assert.equal(sample(text, 'lgs_sync_history_lost_total{reason="backlog_full"}'), 0);
    assert.equal(sample(text, 'lgs_sync_history_lost_total{reason="rejected"}'), 0);
    assert.equal(sample(text, 'lgs_sync_history_backlog'), 0);
    metrics.setHistoryBacklog(3);
    metrics.historyAttemptsLost('shutdown', 2);
    metrics.historyAttemptsLost('rejected', 1);
    text = await metrics.registry.metrics();
    assert.equal(sample(text, 'lgs_sync_history_backlog'), 3);
    assert.equal(sample(text, 'lgs_sync_history_lost_total{reason="shutdown"}'), 2);
    assert.equal(sample(text, 'lgs_sync_history_lost_total{reason="rejected"}'), 1);
  });

  it('keeps each instance on its own registry, with prefixed process metrics', async () => {
    const first = createMetrics();
    const second = createMetrics(); // the global registry would throw "already registered"
    first.lumaRequest();
    const text = await second.registry.metrics();
    assert.equal(sample(text, 'lgs_luma_requests_total'), 0);
    assert.match(text, /^lgs_process_cpu_seconds_total /m);
    assert.match(first.contentType, /^text\/plain/);
  });
});

describe('startQueueDepthPoller', () => {
  it('reads the queue depth from SQS into the gauge', async () => {
    const queue = await createFifoQueue(sqs, { label: 'depth' });
    for (const id of ['a', 'b', 'c']) {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queue.url,
          MessageBody: id,
          MessageGroupId: id,
          MessageDeduplicationId: id,
        }),
      );
    }
    const metrics = createMetrics();
    const { log } = captureLogger();
    const poller = startQueueDepthPoller({ sqs, queueUrl: queue.url, metrics, intervalMs: 20, log });
    try {
      await waitFor(
        async () => sample(await metrics.registry.metrics(), 'lgs_sqs_queue_depth{state="visible"}') === 3,
        5_000,
        'queue depth 3',
      );
      const text = await metrics.registry.metrics();
      assert.equal(sample(text, 'lgs_sqs_queue_depth{state="in_flight"}'), 0);
    } finally {
      await poller.stop();
    }
  });

  it("reads the depth of the dead-letter queue named by the queue's redrive policy", async () => {
    const { queueUrl, dlqUrl } = await createFifoQueueWithDlq(sqs, `depth-dlq-${Date.now()}`);
    for (const id of ['a', 'b']) {
      await sqs.send(
        new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: id, MessageGroupId: id, MessageDeduplicationId: id }),
      );
    }
    const metrics = createMetrics();
    const { log } = captureLogger();
    const poller = startQueueDepthPoller({ sqs, queueUrl, metrics, intervalMs: 20, log });
    try {
      await waitFor(
        async () => sample(await metrics.registry.metrics(), 'lgs_sqs_dlq_depth') === 2,
        5_000,
        'dead-letter depth 2',
      );
    } finally {
      await poller.stop();
    }
  });

  it('warns once per outage, keeps polling, and stops cleanly', async (t) => {
    // The poller's clock is mocked, so "no poll after stop()" is checked over many
    // intervals of its own time, not over a short window of the machine's.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let calls = 0;
    const failing = {
      send: async () => {
        calls++;
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      },
    };
    const { log, lines } = captureLogger();
    const poller = startQueueDepthPoller({
      sqs: failing,
      queueUrl: 'http://127.0.0.1:1/q.fifo',
      metrics: createMetrics(),
      intervalMs: 5,
      log,
    });
    /** Lets the failed poll settle (so it schedules the next one), then moves its clock on. */
    const nextInterval = async () => {
      await new Promise((resolve) => setImmediate(resolve));
      t.mock.timers.tick(5);
    };
    for (let i = 0; i < 3; i++) await nextInterval();
    assert.equal(calls, 4, 'one poll at start and one per interval');
    await poller.stop();
    const stoppedAt = calls;
    for (let i = 0; i < 100; i++) await nextInterval();
    assert.equal(calls, stoppedAt, 'no poll after stop()');
    assert.equal(lines.filter((l) => l.msg === 'queue depth poll failed' && l.level === 40).length, 1);
  });
});
