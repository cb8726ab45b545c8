/**
 * Drives a real `npm run local` as a terminal would: in a process group of its own, which
 * a Ctrl-C signals as a whole. Every process it starts, in any group or session, carries
 * a marker in its environment, so what it leaves behind can be found (and is killed when
 * the test ends).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MARKER_VARIABLE = 'LGS_TEST_LOCAL_RUN';

export interface LocalRun {
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves once the output matches `pattern`; rejects if the run exits first or after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** The terminal's Ctrl-C: SIGINT to the whole foreground process group. */
  ctrlC(): void;
  /** npm's exit code, or the signal that ended it. */
  exited: Promise<number | string>;
  /** Live processes started by this run (npm and everything below it), as pid → command line. */
  processes(): Map<number, string>;
}

export function startLocalRun(args: string[] = []): LocalRun {
  const marker = randomBytes(8).toString('hex');
  const child = spawn('npm', ['run', 'local', '--', ...args], {
    cwd: ROOT,
    detached: true,
    env: {
      PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      HOME: process.env.HOME ?? '/tmp',
      LOG_LEVEL: 'warn',
      [MARKER_VARIABLE]: marker,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const append = (chunk: string) => {
    output += chunk;
    for (const listener of listeners) listener();
  };
  child.stdout.setEncoding('utf8').on('data', append);
  child.stderr.setEncoding('utf8').on('data', append);
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  let done = false;
  void exited.then(() => {
    done = true;
    for (const listener of listeners) listener();
  });

  const processes = () => markedProcesses(marker);
  after(() => {
    for (const pid of processes().keys()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  });

  return {
    output: () => output,
    waitForOutput: (pattern, timeoutMs = 90_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => finish(new Error(`no ${pattern} within ${timeoutMs} ms:\n${output}`)),
          timeoutMs,
        );
        const check = () => {
          if (pattern.test(output)) finish();
          else if (done) finish(new Error(`npm run local exited before printing ${pattern}:\n${output}`));
        };
        const finish = (err?: Error) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (err) reject(err);
          else resolve();
        };
        listeners.add(check);
        check();
      }),
    ctrlC: () => process.kill(-child.pid!, 'SIGINT'),
    exited,
    processes,
  };
}

/** Processes whose environment holds the marker: inherited by everything a run starts. */
function markedProcesses(marker: string): Map<number, string> {
  const found = new Map<number, string>();
  const needle = `${MARKER_VARIABLE}=${marker}`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (!environ.includes(needle)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (/^\d+ \(.*\) Z /.test(stat)) continue; // a zombie has exited; only its parent's wait is missing
      found.set(Number(entry), readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim());
    } catch {
      // exited while we looked, or not ours to read
    }
  }
  return found;
}
