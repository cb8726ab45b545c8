import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics } from '../../src/http/metrics.ts';
import { sample } from '../support/metrics-text.ts';

describe('freshness metrics', () => {
  it('count syncs by trigger from zero, and report each tier tick', async () => {
    const metrics = createMetrics();
    const before = await metrics.registry.metrics();
    for (const trigger of ['schedule', 'tier', 'webhook', 'manual']) {
      assert.equal(sample(before, `lgs_syncs_total{trigger="${trigger}",outcome="success"}`), 0, trigger);
    }
    metrics.recordSyncTrigger('webhook', 'success');
    metrics.recordSyncTrigger('webhook', 'failure');
    metrics.recordTierTick({ enqueuedByTier: { '48h': 3, '14d': 1 }, deferred: 2, oldestDueSeconds: { '48h': 40 } });
    metrics.recordTierTick({ enqueuedByTier: { '48h': 1 }, deferred: 0, oldestDueSeconds: { '48h': 0 } });
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'lgs_syncs_total{trigger="webhook",outcome="success"}'), 1);
    assert.equal(sample(text, 'lgs_syncs_total{trigger="webhook",outcome="failure"}'), 1);
    assert.equal(sample(text, 'lgs_tier_events_enqueued_total{tier="48h"}'), 4);
    assert.equal(sample(text, 'lgs_tier_events_enqueued_total{tier="14d"}'), 1);
    assert.equal(sample(text, 'lgs_tier_events_deferred_total'), 2);
    assert.equal(sample(text, 'lgs_tier_oldest_due_age_seconds{tier="48h"}'), 0, 'the last tick’s figure');
  });
});
