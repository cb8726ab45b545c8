import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/local/free-port.ts';

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/main.ts');

export interface WorkerProcess {
  child: ChildProcess;
  /** Base URL of its /healthz, /readyz and /metrics server. */
  url: string;
  /** Every JSON log line it wrote so far (stdout), parsed; and raw stderr text. */
  lines: Array<Record<string, unknown>>;
  /** The same lines as written, unparsed (JSON.parse hides a repeated key). */
  rawLines: string[];
  stderr: () => string;
  /** Resolves with the first log line matching `predicate`; rejects after `timeoutMs`. */
  waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Resolves once GET /readyz answers 200. */
  waitUntilReady(timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string>;
}

/**
 * Starts the real worker (`node src/main.ts <command>`) as a child process with `env`
 * (on top of a minimal PATH/HOME), JSON logs captured. Killed (SIGKILL) when the test that
 * started it ends — or the file, when started at module level.
 */
export async function startWorkerProcess(
  env: Record<string, string>,
  options: { command?: string[] } = {},
): Promise<WorkerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN, ...(options.command ?? ['daemon'])], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      LOG_LEVEL: 'debug',
      LOG_PRETTY: 'false',
      HTTP_PORT: String(port),
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  const lines: Array<Record<string, unknown>> = [];
  const rawLines: string[] = [];
  const waiters: Array<{
    predicate: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }> = [];
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const text of parts) {
      if (!text.trim()) continue;
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text);
      } catch {
        line = { msg: text, unparsed: true };
      }
      lines.push(line);
      rawLines.push(text);
      for (const waiter of [...waiters]) {
        if (waiter.predicate(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });

  const url = `http://127.0.0.1:${port}`;
  return {
    child,
    url,
    lines,
    rawLines,
    stderr: () => stderr,
    exited,
    waitForLog(predicate, timeoutMs = 30_000) {
      const seen = lines.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          predicate,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      });
    },
    async waitUntilReady(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      // What the last probe answered, and the worker's last lines: why it was not ready, if it never is.
      let answer = 'no answer yet';
      for (;;) {
        const ok = await fetch(`${url}/readyz`).then(
          async (r) => {
            answer = `${r.status} ${await r.text()}`;
            return r.ok;
          },
          (err: unknown) => {
            answer = `no answer (${(err as { cause?: { code?: string } }).cause?.code ?? String(err)})`;
            return false;
          },
        );
        if (ok) return;
        if (Date.now() > deadline) {
          const last = rawLines.slice(-8).join('\n');
          throw new Error(
            `worker not ready within ${timeoutMs} ms; last /readyz: ${answer}; stderr: ${stderr}; last log lines:\n${last}`,
          );
        }
        if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}; stderr: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}
