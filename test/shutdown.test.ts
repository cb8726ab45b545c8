import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createShutdown } from '../src/shutdown.ts';
import { captureLogger, waitFor } from './support/sqs-queue.ts';

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/shutdown-child.ts');

/**
 * The grace period of the tests that are not about it: long enough that no stall of the
 * machine can end a shutdown by its deadline. Under 1 s (4 s with the margin), a stall of
 * 5 s between the shutdown's start and a release's 10 ms wait made it exit 1.
 */
const UNTESTED_GRACE_MS = 600_000;

/** An exit function that records its calls instead of ending the test process. */
function fakeExit() {
  const codes: number[] = [];
  return { codes, exit: (code: number) => void codes.push(code) };
}

describe('createShutdown', () => {
  it('runs the releases in reverse order of registration, then exits 0', async () => {
    const { log } = captureLogger();
    const { codes, exit } = fakeExit();
    const order: string[] = [];
    const shutdown = createShutdown({ log, graceMs: UNTESTED_GRACE_MS, exit });
    shutdown.register('database', () => void order.push('database'));
    shutdown.register('consumer', async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      order.push('consumer');
    });
    shutdown.register('cron', () => void order.push('cron'));
    assert.equal(shutdown.isShuttingDown(), false);
    await shutdown.shutdown('test');
    assert.deepEqual(order, ['cron', 'consumer', 'database']);
    assert.deepEqual(codes, [0]);
    assert.equal(shutdown.isShuttingDown(), true);
  });

  it('is idempotent: a second call returns the same promise and releases nothing twice', async () => {
    const { log } = captureLogger();
    const { codes, exit } = fakeExit();
    let released = 0;
    const shutdown = createShutdown({ log, graceMs: UNTESTED_GRACE_MS, exit });
    shutdown.register('once', () => void released++);
    const first = shutdown.shutdown('first');
    const second = shutdown.shutdown('second', 1);
    assert.equal(first, second);
    await first;
    assert.equal(released, 1);
    assert.deepEqual(codes, [0]);
  });

  it('releases what is registered during a shutdown (startup racing a SIGTERM) before the older releases', async () => {
    const { log } = captureLogger();
    const { codes, exit } = fakeExit();
    const order: string[] = [];
    const shutdown = createShutdown({ log, graceMs: UNTESTED_GRACE_MS, exit });
    shutdown.register('database', () => void order.push('database'));
    shutdown.register('startup', async () => {
      order.push('startup');
      // The startup step finishes its current resource and registers it, as daemon.ts does.
      shutdown.register('consumer', () => void order.push('consumer'));
    });
    await shutdown.shutdown('test');
    assert.deepEqual(order, ['startup', 'consumer', 'database']);
    let late = false;
    shutdown.register('after the end', () => {
      late = true;
    });
    await waitFor(() => late, 1_000, 'a release registered after shutdown to run at once');
    assert.deepEqual(codes, [0]);
  });

  it('logs a failing release and still runs the rest', async () => {
    const { log, lines } = captureLogger();
    const { codes, exit } = fakeExit();
    const order: string[] = [];
    const shutdown = createShutdown({ log, graceMs: UNTESTED_GRACE_MS, exit });
    shutdown.register('database', () => void order.push('database'));
    shutdown.register('consumer', async () => {
      throw new Error('stop failed');
    });
    shutdown.register('cron', () => void order.push('cron'));
    await shutdown.shutdown('test');
    assert.deepEqual(order, ['cron', 'database']);
    assert.deepEqual(codes, [0]);
    const failure = lines.find((l) => l.msg === 'release failed; continuing shutdown');
    assert.ok(failure, 'the failure is logged');
    assert.equal(failure.release, 'consumer');
    assert.equal((failure.err as { message: string }).message, 'stop failed');
  });

  it('exits with the code asked for, e.g. 1 after a fatal error', async () => {
    const { codes, exit } = fakeExit();
    await createShutdown({ log: captureLogger().log, graceMs: UNTESTED_GRACE_MS, exit }).shutdown('fatal', 1);
    assert.deepEqual(codes, [1]);
  });

  it('force-exits 1 when a release hangs past the deadline', async () => {
    const { log, lines } = captureLogger();
    const { codes, exit } = fakeExit();
    const shutdown = createShutdown({ log, graceMs: 30, marginMs: 10, exit });
    let resolveHung: () => void = () => {};
    shutdown.register('hung', () => new Promise<void>((resolve) => (resolveHung = resolve)));
    const done = shutdown.shutdown('test');
    await waitFor(() => codes.length > 0, 2_000, 'forced exit');
    assert.deepEqual(codes, [1]);
    assert.ok(lines.some((l) => l.msg === 'shutdown deadline passed; forcing exit'));
    resolveHung(); // the release finishing late must not exit a second time
    await done;
    assert.deepEqual(codes, [1]);
  });

  it('turns SIGTERM into a shutdown and a second signal into an immediate exit', async () => {
    const { log } = captureLogger();
    const { codes, exit } = fakeExit();
    const handlers = new Map<string, (signal: NodeJS.Signals) => void>();
    const signals = {
      on: (name: string, handler: (signal: NodeJS.Signals) => void) => handlers.set(name, handler),
      off: (name: string) => handlers.delete(name),
    } as unknown as Pick<NodeJS.Process, 'on' | 'off'>;
    const shutdown = createShutdown({ log, graceMs: UNTESTED_GRACE_MS, exit, signals });
    shutdown.register('hung', () => new Promise<void>(() => {}));
    const uninstall = shutdown.installSignalHandlers();
    assert.deepEqual([...handlers.keys()].sort(), ['SIGINT', 'SIGTERM']);
    handlers.get('SIGTERM')?.('SIGTERM');
    assert.equal(shutdown.isShuttingDown(), true);
    assert.deepEqual(codes, []);
    // Exactly at once: exit is called inside the handler, with the release still hung.
    handlers.get('SIGINT')?.('SIGINT');
    assert.deepEqual(codes, [130]);
    handlers.get('SIGTERM')?.('SIGTERM');
    assert.deepEqual(codes, [130], 'one exit only');
    uninstall();
    assert.equal(handlers.size, 0);
  });
});

/** Runs the fixture as a real process; resolves lines as they arrive and the exit code. */
function startChild(env: Record<string, string> = {}) {
  const child: ChildProcess = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: Array<Record<string, unknown>> = [];
  let buffer = '';
  child.stdout?.on('data', (chunk) => {
    buffer += String(chunk);
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const text = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (text.trim()) lines.push(JSON.parse(text));
      newline = buffer.indexOf('\n');
    }
  });
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const waitForMsg = (msg: string) => waitFor(() => lines.some((l) => l.msg === msg), 20_000, `"${msg}" (${stderr})`);
  return { child, lines, exited, waitForMsg };
}

describe('shutdown in a real process', () => {
  it('exits 0 after one SIGTERM, having run every release', async () => {
    const { child, lines, exited, waitForMsg } = startChild({ FIXTURE_GRACE_MS: String(UNTESTED_GRACE_MS) });
    await waitForMsg('ready');
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    const messages = lines.map((l) => l.msg);
    assert.ok(messages.includes('shutdown started'));
    assert.ok(messages.includes('shutdown complete'), 'the log was flushed before exit');
    const released = lines.filter((l) => l.msg === 'released').map((l) => l.release);
    assert.deepEqual(released, ['last registered', 'work loop']);
  });

  it('exits 143 at once on a second SIGTERM while a release hangs', async () => {
    // No clock here: a real process on a loaded machine may take any time to exit. That
    // the exit is immediate (called in the handler) is asserted exactly above; what this
    // shows is that a real second SIGTERM ends a real process with 143 before its grace
    // period (a minute) ends. Only the second-signal path exits 143: the deadline would
    // exit 1 and log it, a release finishing would exit 0, an unhandled SIGTERM would
    // end the process by the signal, with no code.
    const { child, lines, exited, waitForMsg } = startChild({ FIXTURE_HANG: '1', FIXTURE_GRACE_MS: '60000' });
    await waitForMsg('ready');
    child.kill('SIGTERM');
    await waitForMsg('shutdown started');
    child.kill('SIGTERM');
    assert.equal(await exited, 143);
    assert.equal(lines.at(-1)?.msg, 'second signal: exiting now', 'nothing ran after the second signal');
    const messages = lines.map((l) => l.msg);
    assert.ok(!messages.includes('shutdown deadline passed; forcing exit'), 'the grace period did not pass');
    assert.ok(!messages.includes('shutdown complete'));
  });

  it('exits 130 on a second SIGINT', async () => {
    const { child, exited, waitForMsg } = startChild({ FIXTURE_HANG: '1', FIXTURE_GRACE_MS: '60000' });
    await waitForMsg('ready');
    child.kill('SIGINT');
    await waitForMsg('shutdown started');
    child.kill('SIGINT');
    assert.equal(await exited, 130);
  });

  it('exits 1 once the grace period passes with a release still hung', async () => {
    const { child, lines, exited, waitForMsg } = startChild({ FIXTURE_HANG: '1', FIXTURE_GRACE_MS: '300' });
    await waitForMsg('ready');
    child.kill('SIGTERM');
    assert.equal(await exited, 1);
    assert.ok(lines.some((l) => l.msg === 'shutdown deadline passed; forcing exit'));
  });
});
