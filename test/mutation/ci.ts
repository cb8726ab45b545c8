/**
 * `npm run test:mutation:ci`: the mutation step of .ci/run. For each group of
 * test/mutation/modules.json it compares the work tree with the group's committed baseline
 * (test/mutation/baseline/<group>.json); only the groups whose modules or tests changed
 * are run, incrementally (only the changed mutants and those the changed tests cover), on
 * a copy of the baseline so the work tree stays as it was. Fails, saying what to do, when:
 *
 * - a group has no baseline (regenerate: `npm run test:mutation:baseline -- <group>`);
 * - more groups changed than LGS_MUTATION_CI_MAX_GROUPS (default 4): the baselines are
 *   stale, not merely behind by one change; regenerating them takes tens of minutes;
 * - the time limit LGS_MUTATION_CI_MINUTES (default 10) passes: the run is stopped;
 * - a group's score falls below its floor (modules.json; 90% by default).
 *
 * LGS_MUTATION_CI_CONCURRENCY (default 2) test files run at a time.
 *
 * With nothing changed it starts no server and takes a second.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { baselineFile, loadGroups, type MutationGroup, readReport, runGroup, scoreOf, staleness } from './groups.ts';

const root = process.cwd();
const minutes = Number(process.env.LGS_MUTATION_CI_MINUTES ?? '10');
const maxGroups = Number(process.env.LGS_MUTATION_CI_MAX_GROUPS ?? '4');
// CI runs its steps one after another: two test files at a time is the machine's two cores.
const concurrency = Number(process.env.LGS_MUTATION_CI_CONCURRENCY ?? '2');
if (
  !(minutes > 0) ||
  !Number.isInteger(maxGroups) ||
  maxGroups < 1 ||
  !Number.isInteger(concurrency) ||
  concurrency < 1
) {
  console.error(
    'test:mutation:ci: LGS_MUTATION_CI_MINUTES must be a positive number, LGS_MUTATION_CI_MAX_GROUPS and LGS_MUTATION_CI_CONCURRENCY whole numbers ≥ 1',
  );
  process.exit(2);
}
const deadline = performance.now() + minutes * 60_000;
const fail = (lines: string[]): never => {
  console.error(`test:mutation:ci: FAILED\n${lines.map((l) => `  ${l}`).join('\n')}`);
  process.exit(1);
};

const groups = loadGroups(root);
const missing = groups.filter((g) => !existsSync(path.join(root, baselineFile(g))));
if (missing.length > 0) {
  fail([
    `no baseline for ${missing.map((g) => g.name).join(', ')}: CI would have to mutate them whole.`,
    `Make it and commit it: npm run test:mutation:baseline -- ${missing.map((g) => g.name).join(' ')}`,
  ]);
}

const changed: { group: MutationGroup; reasons: string[] }[] = [];
for (const group of groups) {
  const reasons = staleness(root, group, readReport(path.join(root, baselineFile(group))));
  if (reasons.length > 0) changed.push({ group, reasons });
  console.log(`test:mutation:ci: ${group.name}: ${reasons.length > 0 ? reasons.join('; ') : 'unchanged'}`);
}
if (changed.length === 0) {
  console.log('test:mutation:ci: every group matches its baseline; nothing to mutate');
  process.exit(0);
}
if (changed.length > maxGroups) {
  fail([
    `${changed.length} groups changed since their baselines (${changed.map((c) => c.group.name).join(', ')}), more than ${maxGroups}:`,
    'the committed baselines are stale. Bring them up to date and commit them:',
    '  npm run test:mutation:baseline',
  ]);
}

const work = mkdtempSync(path.join(os.tmpdir(), 'lgs-mutation-ci-'));
const results: string[] = [];
const problems: string[] = [];
try {
  for (const { group } of changed) {
    if (performance.now() >= deadline) {
      problems.push(`${group.name}: not run, the ${minutes}-minute limit had passed`);
      continue;
    }
    const file = path.join(work, `${group.name}.json`);
    copyFileSync(path.join(root, baselineFile(group)), file);
    const outcome = await runGroup(root, group, file, { deadline, concurrency });
    if (outcome === 'timeout') {
      problems.push(
        `${group.name}: stopped at the ${minutes}-minute limit (LGS_MUTATION_CI_MINUTES). Too much changed since the baseline:`,
        `  npm run test:mutation:baseline -- ${group.name}   (then commit test/mutation/baseline/${group.name}.json)`,
      );
      continue;
    }
    if (outcome === 'failed') {
      problems.push(`${group.name}: Stryker failed (see its output above)`);
      continue;
    }
    const score = scoreOf(group, readReport(file));
    const line = `${group.name}: ${score.percent}% (${score.killed} killed, ${score.survived} survived, ${score.noCoverage} no coverage)`;
    results.push(line);
    if (score.percent < group.floor) {
      problems.push(
        `${line}: below the group's floor of ${group.floor}%. Kill the survivors listed above with a test, or list them as equivalent in docs/mutation.md`,
      );
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`test:mutation:ci\n${results.map((l) => `  ${l}`).join('\n')}`);
if (problems.length > 0) fail(problems);
console.log(
  `test:mutation:ci: passed. To record these results: npm run test:mutation:baseline -- ${changed.map((c) => c.group.name).join(' ')}`,
);
