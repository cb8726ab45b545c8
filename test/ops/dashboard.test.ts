/**
 * The Grafana dashboard's queries against a real Prometheus scraping a real worker.
 * Every panel target must return at least one series once the worker has synced: a
 * renamed metric, a wrong label or a typo in PromQL fails here, not on an operator's
 * screen. Needs the `prometheus` binary (Debian's package); run by `npm run test:ops`.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEMO_LUMA_EVENTS } from '../../src/local/demo-data.ts';
import { seedDemoDirectory } from '../../src/local/seed.ts';
import { seedEvent } from '../support/seed.ts';
import { startStack } from '../support/stack.ts';
import { startWorkerProcess } from '../support/worker-process.ts';
import { startPrometheus, until } from './ops-processes.ts';

const DEPLOY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy');
const DASHBOARD = path.join(DEPLOY, 'grafana/luma-guest-sync.dashboard.json');
const RULES = path.join(DEPLOY, 'prometheus/luma-guest-sync.rules.yaml');

interface Panel {
  title: string;
  targets: Array<{ expr: string; refId: string }>;
}

/** The environment the dashboard's `namespace` variable picks. */
const NAMESPACE = 'lgs-test';

/**
 * Grafana's built-in range variables, filled in as Grafana would for a short time range.
 * Three minutes reach back past the scheduled sync the test waits for.
 */
function asPrometheusQuery(expr: string): string {
  return expr
    .replaceAll('$namespace', NAMESPACE)
    .replaceAll('$__rate_interval', '3m')
    .replaceAll('$__interval', '15s')
    .replaceAll('$__range', '5m');
}

/** A series with a number: NaN (a quantile of nothing) is not data on a panel. */
function hasData(result: Array<{ value: [number, string] }>): boolean {
  return result.some((series) => !Number.isNaN(Number(series.value[1])));
}

async function query(prometheusUrl: string, expr: string): Promise<Array<{ metric: object; value: [number, string] }>> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await response.json()) as { status: string; error?: string; data?: { result: unknown } };
  assert.equal(body.status, 'success', `${expr}: ${body.error}`);
  return body.data!.result as Array<{ metric: object; value: [number, string] }>;
}

// Started at module level, so the stack's and the worker's own `after` hooks end them
// with the file.
const stack = await startStack({ label: 'dashboard', luma: { events: DEMO_LUMA_EVENTS } });
await seedDemoDirectory(stack.database.db);
// An event Luma does not know: its sync fails, so the error panels have a series.
await seedEvent(stack.database.db, { externalEventId: 'evt-unknown-to-luma' });
const worker = await startWorkerProcess({
  ...stack.env,
  PL_EVENT_GUEST_SYNC_ENABLED: 'true',
  // Every minute: the scheduler's own run sets the last-run timestamp the dashboard shows.
  PL_EVENT_GUEST_SYNC_CRON: '* * * * *',
  // The freshness tiers too, ticking every minute, for the tier panel.
  PL_EVENT_GUEST_SYNC_TIERS_ENABLED: 'true',
  PL_EVENT_GUEST_SYNC_TIER_TICK_MINUTES: '1',
  LOG_LEVEL: 'info',
});
await worker.waitUntilReady();
// Labelled as a Kubernetes scrape labels it, so the dashboard's namespace filter is exercised.
const prometheus = await startPrometheus(
  [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    `rule_files: ['${RULES}']`,
    'scrape_configs:',
    '  - job_name: luma-guest-sync',
    `    static_configs: [{ targets: ['${new URL(worker.url).host}'], labels: { namespace: ${NAMESPACE} } }]`,
    '',
  ].join('\n'),
);

describe('the Grafana dashboard against a real Prometheus and worker', () => {
  it('loads the alert rules without errors', async () => {
    await until(
      async () => {
        const response = await fetch(`${prometheus.url}/api/v1/rules`);
        const body = (await response.json()) as { data: { groups: Array<{ rules: Array<{ health: string }> }> } };
        const rules = body.data.groups.flatMap((g) => g.rules);
        return rules.length > 0 && rules.every((r) => r.health === 'ok');
      },
      30_000,
      () => 'every rule evaluated with health "ok"',
    );
  });

  it("finds the real worker's target with the rules' lgs:up selection, so neither absence alert stirs", async () => {
    await until(
      async () => (await query(prometheus.url, `lgs:up{namespace="${NAMESPACE}"} == 1`)).length === 1,
      30_000,
      () => 'lgs:up 1 for the worker',
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.deepEqual(await query(prometheus.url, 'ALERTS{alertname=~"LumaGuestSync(Absent|Down)"}'), []);
  });

  it('reads one environment at a time: every series a panel selects is filtered by the namespace variable', async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as {
      panels: Panel[];
      templating: { list: Array<{ name: string; query?: { query: string } }> };
    };
    const variable = dashboard.templating.list.find((v) => v.name === 'namespace');
    assert.match(variable?.query?.query ?? '', /^label_values\(lgs_\w+, namespace\)$/);
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets) {
        for (const [selector] of expr.matchAll(/\blgs_\w+(\{[^}]*\})?/g)) {
          assert.ok(
            selector.includes('namespace=~"$namespace"'),
            `${panel.title}: ${selector} reads every environment`,
          );
        }
      }
    }
  });

  it('answers every panel query with data once the worker has run a scheduled sync', async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: Panel[] };
    const targets = dashboard.panels.flatMap((panel) =>
      panel.targets.map((target) => ({ panel: panel.title, expr: asPrometheusQuery(target.expr) })),
    );
    assert.ok(targets.length >= 10, 'the dashboard has its panels');
    const empty = new Set(targets.map((t) => `${t.panel}: ${t.expr}`));
    let scrape = '';
    // The cron fires within a minute; the sync and two scrapes follow within seconds.
    await until(
      async () => {
        const health = (await (await fetch(`${prometheus.url}/api/v1/targets`)).json()) as {
          data: { activeTargets: Array<{ health: string; lastError: string }> };
        };
        scrape = JSON.stringify(health.data.activeTargets.map((t) => ({ health: t.health, lastError: t.lastError })));
        for (const target of targets) {
          const key = `${target.panel}: ${target.expr}`;
          if (empty.has(key) && hasData(await query(prometheus.url, target.expr))) empty.delete(key);
        }
        return empty.size === 0;
      },
      150_000,
      () => `data for every panel (scrape target: ${scrape}); still empty:\n  ${[...empty].join('\n  ')}`,
    );
  });
});
