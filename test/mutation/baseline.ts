/**
 * `npm run test:mutation:baseline`: brings the committed incremental baselines
 * (test/mutation/baseline/<group>.json) up to date with the work tree, group by group
 * (test/mutation/modules.json), one Stryker run at a time. Incremental: a group whose
 * modules and tests did not change is skipped, and a changed one re-tests only the
 * mutants whose code or covering tests changed. Commit the files it rewrites.
 *
 *   npm run test:mutation:baseline                    every group that changed
 *   npm run test:mutation:baseline -- claims tier-due  these groups (run even if unchanged)
 *   npm run test:mutation:baseline -- --force         every mutant of every group again
 *   npm run test:mutation:baseline -- --concurrency 2 two test files at a time (a machine to spare)
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { baselineFile, loadGroups, readReport, runGroup, scoreOf, staleness } from './groups.ts';

const root = process.cwd();
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { force: { type: 'boolean' }, concurrency: { type: 'string' } },
});
const groups = loadGroups(root);
const unknown = positionals.filter((name) => !groups.some((g) => g.name === name));
if (unknown.length > 0) {
  console.error(`test:mutation:baseline: no group ${unknown.join(', ')} in test/mutation/modules.json`);
  process.exit(1);
}
mkdirSync(path.join(root, 'test/mutation/baseline'), { recursive: true });

let failed = 0;
const summary: string[] = [];
for (const group of groups) {
  if (positionals.length > 0 && !positionals.includes(group.name)) continue;
  const file = baselineFile(group);
  const exists = existsSync(path.join(root, file));
  if (positionals.length === 0 && !values.force && exists && staleness(root, group, readReport(file)).length === 0) {
    summary.push(`${group.name}: unchanged, skipped`);
    continue;
  }
  const started = performance.now();
  const outcome = await runGroup(root, group, file, {
    force: values.force === true || !exists,
    concurrency: values.concurrency ? Number(values.concurrency) : undefined,
  });
  const seconds = Math.round((performance.now() - started) / 1000);
  if (outcome !== 'passed' || !existsSync(path.join(root, file))) {
    failed++;
    summary.push(`${group.name}: Stryker failed (${seconds} s)`);
    continue;
  }
  const score = scoreOf(group, readReport(file));
  summary.push(
    `${group.name}: ${score.percent}% (${score.killed} killed, ${score.survived} survived, ${score.noCoverage} no coverage, ${score.ignored} ignored) in ${seconds} s${score.percent < group.floor ? `, below its floor of ${group.floor}%` : ''}`,
  );
}
console.log(`\ntest:mutation:baseline\n${summary.map((line) => `  ${line}`).join('\n')}`);
process.exit(failed > 0 ? 1 : 0);
