/**
 * `npm run test:mutation:scores`: every group's score in its committed baseline
 * (test/mutation/baseline/<group>.json), as a Markdown table, with whether the baseline
 * is current (stale when a module or test file changed since, as `npm run
 * test:mutation:ci` judges). Runs no mutant: it reads what each group's last `npm run
 * test:mutation:baseline` recorded. docs/mutation.md's table of current scores is its
 * output; it exits 1 when a group has no baseline.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { baselineFile, loadGroups, readReport, scoreOf, staleness } from './groups.ts';

export function scoresTable(root: string): { table: string; missing: string[] } {
  const rows = [
    '| Group | Modules (under `src/`) | Mutants | Killed | Survived | No coverage | Ignored (messages, SQL) | Score | Floor | Baseline |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  const missing: string[] = [];
  for (const group of loadGroups(root)) {
    const modules = group.mutate.map((m) => `\`${m.replace(/^src\//, '')}\``).join(', ');
    const file = path.join(root, baselineFile(group));
    if (!existsSync(file)) {
      missing.push(group.name);
      rows.push(`| ${group.name} | ${modules} | | | | | | | ${group.floor} | missing |`);
      continue;
    }
    const report = readReport(file);
    const s = scoreOf(group, report);
    const mutants = s.killed + s.survived + s.noCoverage + s.ignored;
    const state = staleness(root, group, report).length > 0 ? 'stale' : 'current';
    rows.push(
      `| ${group.name} | ${modules} | ${mutants} | ${s.killed} | ${s.survived} | ${s.noCoverage} | ${s.ignored} | ${s.percent}% | ${group.floor} | ${state} |`,
    );
  }
  return { table: rows.join('\n'), missing };
}

if (import.meta.main) {
  const { table, missing } = scoresTable(process.cwd());
  console.log(table);
  if (missing.length > 0) {
    console.error(`no baseline: ${missing.join(', ')} (npm run test:mutation:baseline -- <group>)`);
    process.exitCode = 1;
  }
}
