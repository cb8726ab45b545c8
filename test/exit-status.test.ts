import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from './support/sqs-queue.ts';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const COMMAND = path.join(FIXTURES, 'embedded-server-command.ts');

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh parent folder; the fixture's data folder is `data` inside it (created by the server). */
function dataDirOf(): string {
  const parent = mkdtempSync(path.join(os.tmpdir(), 'lgs-exit-'));
  // initdb runs as the postgres user when the tests run as root: it must reach the folder.
  chmodSync(parent, 0o711);
  dirs.push(parent);
  return path.join(parent, 'data');
}

interface Run {
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
  line: (text: string) => Promise<void>;
  child: ReturnType<typeof spawn>;
}

function run(file: string, args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [file, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const lines = createInterface({ input: child.stdout! });
  const seen: string[] = [];
  lines.on('line', (l) => {
    output += `${l}\n`;
    seen.push(l);
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }) as Awaited<Run['exited']>);
  return {
    child,
    exited,
    output: () => output,
    line: (text) => waitFor(() => seen.includes(text), 60_000, `the line "${text}"`),
  };
}

/** The postmaster's pid, from the data folder's postmaster.pid (first line). */
function postmasterPid(dataDir: string): number {
  return Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** Alive and not a zombie (an exited child not yet reaped is gone for our purpose). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function assertServerGone(pid: number, dataDir: string, output: string): Promise<void> {
  await waitFor(() => !isAlive(pid), 15_000, `PostgreSQL (pid ${pid}) to exit`).catch(() =>
    assert.fail(`PostgreSQL ${pid} is still running:\n${output}`),
  );
  assert.ok(!existsSync(dataDir), `the data folder ${dataDir} is removed:\n${output}`);
}

describe('exit status of a command that starts an embedded PostgreSQL', () => {
  it('exits 1 when a target is missed, as its table says', async () => {
    const r = run(COMMAND, ['missed', dataDirOf()]);
    const { code } = await r.exited;
    assert.match(r.output(), /\| NO /);
    assert.equal(code, 1, r.output());
  });

  it('exits 0 when every target is met', async () => {
    const r = run(COMMAND, ['met', dataDirOf()]);
    const { code } = await r.exited;
    assert.match(r.output(), /\| yes /);
    assert.equal(code, 0, r.output());
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} stops the server, removes its data folder and ends the command by that signal`, async () => {
      const dataDir = dataDirOf();
      const r = run(COMMAND, ['wait', dataDir]);
      await r.line('ready');
      const pid = postmasterPid(dataDir);
      assert.ok(isAlive(pid));
      r.child.kill(signal);
      const ended = await r.exited;
      assert.equal(ended.signal, signal, `${JSON.stringify(ended)}\n${r.output()}`);
      await assertServerGone(pid, dataDir, r.output());
    });
  }

  it('leaves a SIGTERM to a process that handles it itself (its own shutdown order and exit code)', async () => {
    const dataDir = dataDirOf();
    const r = run(COMMAND, ['own-sigterm', dataDir]);
    await r.line('ready');
    const pid = postmasterPid(dataDir);
    r.child.kill('SIGTERM');
    const { code } = await r.exited;
    assert.equal(code, 7, r.output());
    assert.match(r.output(), /own SIGTERM handler/);
    await assertServerGone(pid, dataDir, r.output());
  });

  for (const [mode, expected] of [
    ['exit-early', 3],
    ['throw', 1],
  ] as const) {
    it(`stops the server when the process ends with it running (${mode}), keeping the exit code ${expected}`, async () => {
      const dataDir = dataDirOf();
      const r = run(COMMAND, [mode, dataDir]);
      await waitFor(() => existsSync(path.join(dataDir, 'postmaster.pid')), 60_000, 'the server to start');
      const pid = postmasterPid(dataDir);
      const { code } = await r.exited;
      assert.equal(code, expected, r.output());
      await assertServerGone(pid, dataDir, r.output());
    });
  }
});

describe('a failing test file run on its own', () => {
  it('exits non-zero when it only loads src/local/embedded-postgres.ts', async () => {
    const r = run(path.join(FIXTURES, 'failing-test-file.ts'), []);
    const { code } = await r.exited;
    assert.match(r.output(), /this test fails on purpose/);
    assert.equal(code, 1, r.output());
  });

  it('exits non-zero when it starts an embedded server', async () => {
    const r = run(path.join(FIXTURES, 'failing-test-file.ts'), [], { FIXTURE_START_SERVER: '1' });
    const { code } = await r.exited;
    assert.match(r.output(), /this test fails on purpose/);
    assert.equal(code, 1, r.output());
  });
});
