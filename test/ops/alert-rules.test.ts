/**
 * The Prometheus alert rules: valid for promtool, and every alert unit-tested there,
 * firing in at least one case. Needs `promtool` (Debian's `prometheus` package); run by
 * `npm run test:ops`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/prometheus');
const RULES = path.join(DIR, 'luma-guest-sync.rules.yaml');
const TESTS = path.join(DIR, 'luma-guest-sync.rules.test.yaml');
const run = promisify(execFile);

describe('alert rules', () => {
  it('pass promtool check rules', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', RULES]);
    assert.match(stdout, /SUCCESS/);
  });

  it('pass their promtool unit tests', async () => {
    const { stdout } = await run('promtool', ['test', 'rules', TESTS], { cwd: DIR });
    assert.match(stdout, /SUCCESS/);
  });

  it('each have a unit test in which they fire, and a runbook', async () => {
    const rules = parse(await readFile(RULES, 'utf8')) as {
      groups: Array<{ rules: Array<{ alert: string; annotations: Record<string, string> }> }>;
    };
    const tests = parse(await readFile(TESTS, 'utf8')) as {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    };
    const firing = new Set(
      tests.tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname),
      ),
    );
    const alerts = rules.groups.flatMap((g) => g.rules);
    assert.ok(alerts.length >= 6);
    for (const alert of alerts) {
      assert.ok(firing.has(alert.alert), `${alert.alert} has no unit test in which it fires`);
      assert.ok(alert.annotations.runbook, `${alert.alert} has no runbook`);
    }
  });
});
