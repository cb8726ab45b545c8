/**
 * The mutation groups of test/mutation/modules.json: each names the modules Stryker mutates
 * together and the test files it runs against them (the modules' own tests, not every file
 * that imports them: those reach most of the suite and take an hour). Each group keeps its
 * committed incremental baseline in test/mutation/baseline/<group>.json, Stryker's
 * `incrementalFile` of the group's last run, so a fresh clone (CI) re-tests only what
 * changed since. See docs/mutation.md, "CI".
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface MutationGroup {
  name: string;
  mutate: string[];
  tests: string[];
  /** The lowest score (percent) CI accepts; 90 unless the group says why it is lower. */
  floor: number;
}

interface GroupEntry {
  mutate: string[];
  tests: string[];
  floor?: number;
  floorWhy?: string;
}

/** The parts of Stryker's report (mutation-testing-report-schema) read here. */
export interface MutationReport {
  files: Record<string, { source: string; mutants: { status: string }[] }>;
  testFiles?: Record<string, { source?: string }>;
}

export const DEFAULT_FLOOR = 90;
export const MODULES_FILE = 'test/mutation/modules.json';

export function loadGroups(root: string): MutationGroup[] {
  const entries = JSON.parse(readFileSync(path.join(root, MODULES_FILE), 'utf8')) as Record<string, GroupEntry>;
  return Object.entries(entries).map(([name, entry]) => {
    if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`${MODULES_FILE}: group name "${name}" is not kebab-case`);
    if (!Array.isArray(entry.mutate) || entry.mutate.length === 0)
      throw new Error(`${MODULES_FILE}: group "${name}" has no "mutate" list`);
    if (!Array.isArray(entry.tests) || entry.tests.length === 0)
      throw new Error(`${MODULES_FILE}: group "${name}" has no "tests" list`);
    if (entry.floor !== undefined && !entry.floorWhy)
      throw new Error(`${MODULES_FILE}: group "${name}" lowers its floor without a "floorWhy"`);
    return { name, mutate: entry.mutate, tests: entry.tests, floor: entry.floor ?? DEFAULT_FLOOR };
  });
}

export function baselineFile(group: Pick<MutationGroup, 'name'>): string {
  return `test/mutation/baseline/${group.name}.json`;
}

export function readReport(file: string): MutationReport {
  return JSON.parse(readFileSync(file, 'utf8')) as MutationReport;
}

/**
 * Why the group's baseline no longer describes the work tree, or [] when it does: a
 * mutated module or one of its test files differs from the text the baseline recorded.
 * These are the inputs Stryker's incremental mode itself compares; a change elsewhere
 * (a helper a test imports) is not seen by either.
 */
export function staleness(root: string, group: MutationGroup, report: MutationReport): string[] {
  const reasons: string[] = [];
  const read = (file: string) =>
    existsSync(path.join(root, file)) ? readFileSync(path.join(root, file), 'utf8') : null;
  for (const file of group.mutate) {
    const recorded = report.files[file]?.source;
    if (recorded === undefined) reasons.push(`${file}: not in the baseline`);
    else if (read(file) !== recorded) reasons.push(`${file} changed`);
  }
  for (const file of group.tests) {
    const recorded = report.testFiles?.[file]?.source;
    if (recorded === undefined) reasons.push(`${file}: not in the baseline`);
    else if (read(file) !== recorded) reasons.push(`${file} changed`);
  }
  return reasons;
}

export interface Score {
  killed: number;
  survived: number;
  noCoverage: number;
  ignored: number;
  /** Killed (and timed out) over killed + survived + no coverage, in percent; 100 with no mutant. */
  percent: number;
}

/** The group's score in a report, over the group's modules only. */
export function scoreOf(group: MutationGroup, report: MutationReport): Score {
  const score = { killed: 0, survived: 0, noCoverage: 0, ignored: 0, percent: 100 };
  for (const file of group.mutate) {
    for (const mutant of report.files[file]?.mutants ?? []) {
      if (mutant.status === 'Killed' || mutant.status === 'Timeout') score.killed++;
      else if (mutant.status === 'Survived') score.survived++;
      else if (mutant.status === 'NoCoverage') score.noCoverage++;
      else if (mutant.status === 'Ignored') score.ignored++;
    }
  }
  const counted = score.killed + score.survived + score.noCoverage;
  if (counted > 0) score.percent = Math.floor((1000 * score.killed) / counted) / 10;
  return score;
}

/**
 * Runs `npm run test:mutation` (test/mutation/run.ts) on one group with `incrementalFile`,
 * in a process group of its own. With `deadline` (a performance.now() time) the run is
 * stopped (SIGTERM, then SIGKILL) when it passes, and 'timeout' is returned.
 */
export function runGroup(
  root: string,
  group: MutationGroup,
  incrementalFile: string,
  options: { force?: boolean; deadline?: number; concurrency?: number } = {},
): Promise<'passed' | 'failed' | 'timeout'> {
  // LGS_MUTATION_RUNNER stands in for run.ts in ci-bounds.test.ts (a process that never ends).
  const runner = process.env.LGS_MUTATION_RUNNER ?? path.join(root, 'test/mutation/run.ts');
  const args = [
    runner,
    '--incremental',
    ...(options.force ? ['--force'] : []),
    ...(options.concurrency ? ['--concurrency', String(options.concurrency)] : []),
    '--incrementalFile',
    incrementalFile,
    '--tests',
    group.tests.join(','),
    ...group.mutate,
  ];
  const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', detached: true });
  return new Promise((resolve) => {
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    if (options.deadline !== undefined) {
      timer = setTimeout(
        () => {
          timedOut = true;
          // run.ts forwards SIGTERM to Stryker's own process group and then stops the servers.
          signalGroup(child.pid, 'SIGTERM');
          setTimeout(() => signalGroup(child.pid, 'SIGKILL'), 30_000).unref();
        },
        Math.max(0, options.deadline - performance.now()),
      );
    }
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(timedOut ? 'timeout' : code === 0 ? 'passed' : 'failed');
    });
  });
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
