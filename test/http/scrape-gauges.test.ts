import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics } from '../../src/http/metrics.ts';
import type { ReadinessReport } from '../../src/http/readiness.ts';
import { registerScrapeGauges } from '../../src/http/scrape-gauges.ts';
import { sample } from '../support/metrics-text.ts';

const READY: ReadinessReport = { ready: true, checks: {} };
const NOT_READY: ReadinessReport = { ready: false, checks: { schema: { ok: false, detail: 'missing' } } };

describe('registerScrapeGauges', () => {
  it('reads readiness and overdue events at every scrape', async () => {
    const metrics = createMetrics();
    let report = READY;
    let overdue = 4;
    registerScrapeGauges(metrics.registry, {
      readiness: async () => report,
      countOverdueEvents: async () => overdue,
      overdueAfterHours: 26,
    });

    let text = await metrics.registry.metrics();
    assert.equal(sample(text, 'lgs_ready'), 1);
    assert.equal(sample(text, 'lgs_events_overdue{after_hours="26"}'), 4);

    report = NOT_READY;
    overdue = 0;
    text = await metrics.registry.metrics();
    assert.equal(sample(text, 'lgs_ready'), 0);
    assert.equal(sample(text, 'lgs_events_overdue{after_hours="26"}'), 0);
  });

  it('reports not ready, and leaves overdue out, when the reads fail — and the scrape still answers', async () => {
    const metrics = createMetrics();
    let fail = false;
    registerScrapeGauges(metrics.registry, {
      readiness: async () => {
        if (fail) throw new Error('pool closed');
        return READY;
      },
      countOverdueEvents: async () => {
        if (fail) throw new Error('connection refused');
        return 2;
      },
      overdueAfterHours: 26,
    });
    assert.equal(sample(await metrics.registry.metrics(), 'lgs_events_overdue{after_hours="26"}'), 2);
    fail = true;
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'lgs_ready'), 0);
    assert.equal(sample(text, 'lgs_events_overdue{after_hours="26"}'), undefined, 'an error is not "nothing overdue"');
    assert.match(text, /^lgs_guests_created_total /m, 'the other metrics are still served');
  });
});
