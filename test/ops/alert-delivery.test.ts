/**
 * The worker going away reaches a receiver: a real Prometheus, loaded with
 * deploy/prometheus/luma-guest-sync.rules.yaml, scrapes a stand-in worker (a loopback
 * server answering /metrics as the worker does) and sends its alerts to a real
 * Alertmanager, whose webhook receiver is a server in this test. While the worker answers,
 * neither LumaGuestSyncDown nor LumaGuestSyncAbsent is pending or firing; once it stops,
 * both reach the receiver with their labels and runbook. Only the rules' `for:` durations
 * are shrunk, to 10 s (still far longer than Prometheus takes to scrape a new target, as
 * 5 min is in production: so a start-up without data yet fires nothing); the expressions
 * are the file's. Needs Debian's `prometheus` and `prometheus-alertmanager`; run by `npm run test:ops`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { closeServer } from '../support/close-server.ts';
import { startAlertmanager, startPrometheus, until } from './ops-processes.ts';

const RULES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../deploy/prometheus/luma-guest-sync.rules.yaml',
);

interface Delivered {
  status: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  // Every connection closed too: Alertmanager keeps one open to the receiver, and close()
  // alone waits for a delivery in flight at teardown for good (the file once hung for its
  // whole 180 s limit so, with Alertmanager and Prometheus left running).
  after(() => closeServer(server));
  return (server.address() as AddressInfo).port;
}

// The receiver: Alertmanager's webhook payload is { alerts: [{ status, labels, annotations }] }.
const delivered: Delivered[] = [];
const receiverPort = await listen(
  createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      delivered.push(...(JSON.parse(body) as { alerts: Delivered[] }).alerts);
      res.writeHead(200).end();
    });
  }),
);

// The stand-in worker: the series the rules read from a healthy, ready replica.
const startedAt = Math.floor(Date.now() / 1000);
const workerServer = createServer((req, res) => {
  res.setHeader('connection', 'close');
  if (req.url !== '/metrics') return res.writeHead(404).end();
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
  res.end(
    [
      `lgs_process_start_time_seconds ${startedAt}`,
      `lgs_enqueue_last_run_timestamp_seconds ${startedAt}`,
      'lgs_ready 1',
      'lgs_sqs_dlq_depth 0',
      'lgs_events_overdue{after_hours="26"} 0',
      '',
    ].join('\n'),
  );
});
const workerPort = await listen(workerServer);

const alertmanager = await startAlertmanager(
  stringify({
    route: {
      receiver: 'test',
      group_by: ['alertname', 'namespace'],
      group_wait: '1s',
      group_interval: '1s',
      repeat_interval: '1h',
    },
    receivers: [
      { name: 'test', webhook_configs: [{ url: `http://127.0.0.1:${receiverPort}/`, send_resolved: false }] },
    ],
  }),
);

// The rules as shipped, with every `for:` cut to 10 s.
const rules = parse(await readFile(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ for?: string }> }> };
for (const rule of rules.groups.flatMap((g) => g.rules)) if (rule.for) rule.for = '10s';
const rulesDir = await mkdtemp(path.join(os.tmpdir(), 'lgs-rules-'));
after(() => rm(rulesDir, { recursive: true, force: true }));
await writeFile(path.join(rulesDir, 'rules.yml'), stringify(rules));
const prometheus = await startPrometheus(
  stringify({
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: [path.join(rulesDir, 'rules.yml')],
    alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${alertmanager.port}`] }] }] },
    scrape_configs: [
      {
        job_name: 'luma-guest-sync',
        static_configs: [{ targets: [`127.0.0.1:${workerPort}`], labels: { namespace: 'e2e' } }],
      },
    ],
  }),
);

async function activeAlerts(): Promise<Array<{ labels: Record<string, string>; state: string }>> {
  const body = (await (await fetch(`${prometheus.url}/api/v1/alerts`)).json()) as {
    data: { alerts: Array<{ labels: Record<string, string>; state: string }> };
  };
  return body.data.alerts;
}
const WORKER_GONE = ['LumaGuestSyncAbsent', 'LumaGuestSyncDown'];

describe('alerts reach a receiver when the worker is gone', () => {
  it('stay quiet while the worker answers', async () => {
    await until(
      async () => {
        const query = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent('lgs:up == 1')}`);
        const body = (await query.json()) as { data: { result: unknown[] } };
        return body.data.result.length === 1;
      },
      30_000,
      () => 'the stand-in worker scraped and recorded as lgs:up 1',
    );
    // A few more evaluations (1 s apart) with the worker up.
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const active = (await activeAlerts()).filter((a) => WORKER_GONE.includes(a.labels.alertname!));
    assert.deepEqual(active, []);
    assert.deepEqual(
      delivered.filter((a) => WORKER_GONE.includes(a.labels.alertname!)),
      [],
    );
  });

  it('deliver LumaGuestSyncDown and LumaGuestSyncAbsent to Alertmanager’s webhook receiver once it stops', async () => {
    await closeServer(workerServer);
    await until(
      async () => WORKER_GONE.every((name) => delivered.some((a) => a.labels.alertname === name)),
      60_000,
      () => `both alerts at the receiver (delivered: ${JSON.stringify(delivered.map((a) => a.labels))})`,
    );
    const down = delivered.find((a) => a.labels.alertname === 'LumaGuestSyncDown')!;
    assert.equal(down.status, 'firing');
    assert.equal(down.labels.severity, 'critical');
    assert.equal(down.labels.namespace, 'e2e');
    assert.equal(down.labels.job, 'luma-guest-sync');
    assert.match(down.annotations.runbook ?? '', /docs\/operating\.md, Alerts/);
    const absent = delivered.filter((a) => a.labels.alertname === 'LumaGuestSyncAbsent');
    assert.ok(absent.every((a) => a.status === 'firing' && a.labels.severity === 'critical'));
    assert.ok(
      absent.some((a) => a.labels.namespace === 'e2e' && a.annotations.summary?.endsWith('in e2e')),
      JSON.stringify(absent),
    );
  });
});
