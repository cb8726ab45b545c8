/**
 * The Prometheus alert rules: valid for promtool, and every alert unit-tested there,
 * firing in at least one case and quiet in a look-alike; an absence alert; per namespace. Needs `promtool` (Debian's `prometheus` package); run by
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

  it('each have a unit test in which they fire, one in which they stay quiet, and a runbook', async () => {
    const rules = parse(await readFile(RULES, 'utf8')) as {
      groups: Array<{
        rules: Array<{ alert?: string; record?: string; expr: string; annotations?: Record<string, string> }>;
      }>;
    };
    const tests = parse(await readFile(TESTS, 'utf8')) as {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    };
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const firing = new Set(cases.filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname));
    const quiet = new Set(cases.filter((c) => c.exp_alerts.length === 0).map((c) => c.alertname));
    const alerts = rules.groups.flatMap((g) => g.rules).filter((r) => r.alert);
    assert.ok(alerts.length >= 8);
    for (const alert of alerts) {
      assert.ok(firing.has(alert.alert!), `${alert.alert} has no unit test in which it fires`);
      assert.ok(quiet.has(alert.alert!), `${alert.alert} has no unit test in which it stays quiet`);
      assert.ok(alert.annotations?.runbook, `${alert.alert} has no runbook`);
    }
  });

  it('alert when no replica reports at all, and group every other alert by namespace', async () => {
    const rules = parse(await readFile(RULES, 'utf8')) as {
      groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }>;
    };
    const all = rules.groups.flatMap((g) => g.rules);
    assert.ok(
      all.some((r) => r.alert && /\babsent\(/.test(r.expr)),
      'an alert built on absent(), which fires on no series at all',
    );
    // `up` is read in one place only: the lgs:up rule, the one selection to change.
    assert.deepEqual(
      all.filter((r) => /\bup\{/.test(r.expr)).map((r) => r.record),
      ['lgs:up'],
    );
    for (const rule of all.filter((r) => r.alert)) {
      for (const [aggregation] of rule.expr.matchAll(/\b(?:sum|max|min|avg|count|group)\s*(?:by\s*\([^)]*\)\s*)?\(/g)) {
        assert.match(
          aggregation,
          /by \([^)]*\bnamespace\b/,
          `${rule.alert}: "${aggregation}" adds environments together`,
        );
      }
    }
  });
});
