/**
 * Issue 19, part 3: a sync refused because another holds its event is not a failed
 * attempt. While one sync runs and a redelivery of the same event is refused, the
 * history, `status` and the failure metrics show the running one's success, never a failure.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventHistory, lastAttempts } from '../../src/history/queries.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { silentLogger } from '../../src/log.ts';
import { createRecordedSync } from '../../src/recorded-sync.ts';
import { readEventStatuses } from '../../src/status/event-status.ts';
import { EventSyncRunningError } from '../../src/sync/claim.ts';
import { SyncInterruptedError } from '../../src/sync/interrupted.ts';
import { createTestDatabase } from '../support/db.ts';
import { createGate } from '../support/faults.ts';
import { sample } from '../support/metrics-text.ts';
import { seedEvent, seedMember, syncMessageFor } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const { db, sql } = await createTestDatabase({ label: 'refused_sync' });
const luma = useSimulatedLuma();

/** The consumer's sync wrapper on the test database, with metrics of its own. */
function recordedSync() {
  const metrics = createMetrics();
  const recorded = createRecordedSync({
    sync: syncDeps(db),
    history: { sql, retentionDays: 30, log: silentLogger },
    metrics,
    counted: new WeakSet(),
  });
  return { metrics, recorded };
}

describe('a sync refused because another holds the event', () => {
  it("is recorded as refused, counted apart, and hides neither the other sync's success nor its status", async () => {
    const event = await seedEvent(db);
    const member = await seedMember(db);
    const message = syncMessageFor(event, { trigger: 'webhook' });
    const gate = createGate();
    const held = createGate();
    luma.serve({
      events: { [message.externalEventId]: [{ id: 'gst-1', email: member.email! }] },
      fault: async () => {
        held.open();
        await gate.opened;
        return undefined;
      },
    });
    const { metrics, recorded } = recordedSync();

    const running = recorded(message, new AbortController().signal);
    await held.opened;
    await assert.rejects(recorded(message, new AbortController().signal), EventSyncRunningError);
    gate.open();
    await running;

    const history = await eventHistory(sql, event.uid);
    assert.deepEqual(history.map((h) => h.outcome).sort(), ['refused', 'success']);
    assert.equal(history.find((h) => h.outcome === 'refused')?.errorKind, 'event_sync_running');
    const [last] = await lastAttempts(sql, { eventUids: [event.uid] });
    assert.equal(last?.outcome, 'success', 'the refusal, though it started later, is not the last attempt');
    const [status] = await readEventStatuses(sql, { now: new Date(), overdueAfterHours: 24, eventUid: event.uid });
    assert.equal(status?.failed, false);

    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'lgs_sync_refusals_total{reason="claim_held"}'), 1);
    assert.equal(sample(text, 'lgs_syncs_total{trigger="webhook",outcome="failure"}'), 0);
    assert.equal(sample(text, 'lgs_syncs_total{trigger="webhook",outcome="refused"}'), 1);
    assert.equal(sample(text, 'lgs_syncs_total{trigger="webhook",outcome="success"}'), 1);
    assert.ok(!text.includes('lgs_sync_errors_total{'), 'no failure counted');
  });

  it('a sync interrupted by shutdown is recorded as interrupted: not a failure, so status keeps the event healthy', async () => {
    // Found by the soak: the replicas stopped at its end aborted a running sync, and
    // `status` then showed the event's last sync as failed although it resumes elsewhere.
    const event = await seedEvent(db);
    const member = await seedMember(db);
    const message = syncMessageFor(event, { trigger: 'tier' });
    const held = createGate();
    luma.serve({
      events: { [message.externalEventId]: [{ id: 'gst-1', email: member.email! }] },
      fault: async () => {
        held.open();
        return new Promise<undefined>(() => {});
      },
    });
    const { metrics, recorded } = recordedSync();
    const shutdown = new AbortController();
    const running = recorded(message, shutdown.signal);
    await held.opened;
    shutdown.abort(new SyncInterruptedError('the worker is shutting down'));
    await assert.rejects(running, SyncInterruptedError);

    const [attempt] = await eventHistory(sql, event.uid);
    assert.equal(attempt?.outcome, 'interrupted');
    assert.equal(attempt?.errorKind, 'sync_interrupted');
    const [status] = await readEventStatuses(sql, { now: new Date(), overdueAfterHours: 24, eventUid: event.uid });
    assert.equal(status?.failed, false, 'an interrupted sync is not a failed one');
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'lgs_sync_refusals_total{reason="interrupted"}'), 1);
    assert.equal(sample(text, 'lgs_syncs_total{trigger="tier",outcome="interrupted"}'), 1);
    assert.ok(!text.includes('lgs_sync_errors_total{'), 'no failure counted');
  });
});
