/**
 * The CI mutation step's bounds (test/mutation/ci.ts, docs/mutation.md "CI"): a missing or
 * stale baseline fails at once with the command that fixes it, instead of mutating whole
 * modules for an hour; with nothing changed it runs nothing. Run in a scratch folder with
 * a modules.json of its own, so no Stryker run ever starts here.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { baselineFile, loadGroups, type MutationReport, scoreOf, staleness } from './groups.ts';

const ci = path.resolve('test/mutation/ci.ts');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'lgs-mutation-ci-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A project with `groups` groups of one module and one test each, and baselines matching them. */
function project(name: string, groups: number): string {
  const dir = path.join(scratch, name);
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  mkdirSync(path.join(dir, 'test/mutation/baseline'), { recursive: true });
  const modules: Record<string, { mutate: string[]; tests: string[] }> = {};
  for (let i = 0; i < groups; i++) {
    const [mod, test] = [`src/m${i}.ts`, `test/m${i}.test.ts`];
    writeFileSync(path.join(dir, mod), `export const x = ${i};\n`);
    writeFileSync(path.join(dir, test), `import './../src/m${i}.ts';\n`);
    modules[`g${i}`] = { mutate: [mod], tests: [test] };
    const report = {
      files: { [mod]: { source: `export const x = ${i};\n`, mutants: [{ status: 'Killed' }] } },
      testFiles: { [test]: { source: `import './../src/m${i}.ts';\n` } },
    };
    writeFileSync(path.join(dir, baselineFile({ name: `g${i}` })), JSON.stringify(report));
  }
  writeFileSync(path.join(dir, 'test/mutation/modules.json'), JSON.stringify(modules));
  return dir;
}

function runCi(cwd: string, env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [ci], {
    cwd,
    env: { ...process.env, LGS_MUTATION_CI_MAX_GROUPS: '2', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('the CI mutation step', () => {
  it('runs nothing when every group matches its baseline', () => {
    const { code, output } = runCi(project('unchanged', 3));
    assert.equal(code, 0, output);
    assert.match(output, /nothing to mutate/);
  });

  it('fails at once, naming the command, when a group has no baseline', () => {
    const dir = project('missing', 2);
    rmSync(path.join(dir, baselineFile({ name: 'g1' })));
    const { code, output } = runCi(dir);
    assert.equal(code, 1, output);
    assert.match(output, /no baseline for g1/);
    assert.match(output, /npm run test:mutation:baseline -- g1/);
  });

  it('fails at once when more groups changed than the cap: the baselines are stale', () => {
    const dir = project('stale', 3);
    for (let i = 0; i < 3; i++) writeFileSync(path.join(dir, `src/m${i}.ts`), `export const x = ${i + 1};\n`);
    const started = performance.now();
    const { code, output } = runCi(dir);
    assert.equal(code, 1, output);
    assert.match(output, /3 groups changed since their baselines \(g0, g1, g2\), more than 2/);
    assert.match(output, /npm run test:mutation:baseline/);
    assert.ok(!existsSync(path.join(dir, 'reports')), 'no Stryker run started');
    assert.ok(performance.now() - started < 60_000);
  });
});

describe('the CI mutation step’s time limit', () => {
  it('stops a run that outlasts it, process group and all, and fails naming the group and the fix', async () => {
    const dir = project('slow', 2);
    writeFileSync(path.join(dir, 'src/m1.ts'), 'export const x = 99;\n');
    // Stands in for run.ts: records its pid and never ends on its own.
    const runner = path.join(dir, 'never-ends.ts');
    writeFileSync(
      runner,
      `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(path.join(dir, 'pid'))}, String(process.pid));\nsetInterval(() => {}, 1000);\n`,
    );
    const started = performance.now();
    const { code, output } = runCi(dir, { LGS_MUTATION_RUNNER: runner, LGS_MUTATION_CI_MINUTES: '0.05' });
    assert.equal(code, 1, output);
    assert.match(output, /g0: unchanged/);
    assert.match(output, /g1: stopped at the 0\.05-minute limit/);
    assert.match(output, /npm run test:mutation:baseline -- g1/);
    assert.ok(performance.now() - started < 50_000, 'stopped, not waited out');
    const pid = Number(readFileSync(path.join(dir, 'pid'), 'utf8'));
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the run was stopped');
  });
});

describe('a group against its baseline', () => {
  const group = { name: 'g', mutate: ['src/m.ts'], tests: ['test/m.test.ts'], floor: 90 };
  const dir = path.join(scratch, 'staleness');
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  mkdirSync(path.join(dir, 'test'), { recursive: true });
  writeFileSync(path.join(dir, 'src/m.ts'), 'a');
  writeFileSync(path.join(dir, 'test/m.test.ts'), 'b');
  const report = (source: string, test: string | undefined): MutationReport => ({
    files: { 'src/m.ts': { source, mutants: [] } },
    testFiles: test === undefined ? {} : { 'test/m.test.ts': { source: test } },
  });

  it('is stale when a module or a test file changed, or the baseline lacks one', () => {
    assert.deepEqual(staleness(dir, group, report('a', 'b')), []);
    assert.deepEqual(staleness(dir, group, report('A', 'b')), ['src/m.ts changed']);
    assert.deepEqual(staleness(dir, group, report('a', 'B')), ['test/m.test.ts changed']);
    assert.deepEqual(staleness(dir, group, report('a', undefined)), ['test/m.test.ts: not in the baseline']);
  });

  it('scores killed and timed-out mutants over those that count, leaving ignored ones out', () => {
    const statuses = ['Killed', 'Timeout', 'Survived', 'NoCoverage', 'Ignored', 'Killed'];
    const score = scoreOf(group, {
      files: { 'src/m.ts': { source: 'a', mutants: statuses.map((status) => ({ status })) } },
    });
    assert.deepEqual(score, { killed: 3, survived: 1, noCoverage: 1, ignored: 1, percent: 60 });
  });
});

describe('test/mutation/modules.json', () => {
  it('names modules and test files that exist, each group with its committed baseline', () => {
    const groups = loadGroups(process.cwd());
    assert.ok(groups.length >= 5);
    for (const group of groups) {
      for (const file of [...group.mutate, ...group.tests])
        assert.ok(existsSync(file), `${group.name}: ${file} is gone`);
      const baseline = baselineFile(group);
      assert.ok(existsSync(baseline), `${group.name}: no ${baseline}; npm run test:mutation:baseline -- ${group.name}`);
      assert.ok(JSON.parse(readFileSync(baseline, 'utf8')).files, `${baseline} is a Stryker report`);
    }
  });
});
