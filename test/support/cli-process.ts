import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The JSON log lines, parsed: on stdout, or on stderr for sync and enqueue, which print a result. */
  logs: Array<Record<string, unknown>>;
  /** The pretty-printed JSON document the command printed on stdout, if any. */
  printed: Record<string, unknown> | undefined;
}

/**
 * Runs the real CLI to completion, `node src/main.ts <args>` (or the package bin with
 * `bin`), with `env` on top of a minimal environment (no variable of the test runner
 * leaks in). Killed if it runs past `timeoutMs`.
 */
export function runCliProcess(
  args: string[],
  env: Record<string, string>,
  options: { bin?: boolean; timeoutMs?: number } = {},
): Promise<CliRun> {
  const entry = options.bin ? 'src/bin.js' : 'src/main.ts';
  const child = spawn(process.execPath, [entry, ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
      LOG_LEVEL: 'info',
      LOG_PRETTY: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  return new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const logs = linesOf(`${stdout}\n${stderr}`)
        .filter((line) => line.startsWith('{"level"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const lines = stdout.split('\n');
      const start = lines.indexOf('{');
      const end = lines.indexOf('}', start);
      const printed = start >= 0 && end > start ? JSON.parse(lines.slice(start, end + 1).join('\n')) : undefined;
      resolve({ code, stdout, stderr, logs, printed });
    });
  });
}

/** The non-empty lines of a stream's text. */
export const linesOf = (text: string) => text.split('\n').filter((line) => line.trim() !== '');
