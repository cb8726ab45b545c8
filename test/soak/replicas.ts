/**
 * The daemon replicas: each the production entry point (`node src/main.ts daemon`, what
 * the Dockerfile runs) in a process of its own, with its log kept in a file and read as it
 * comes, so the soak knows which syncs run where, which attempts ended and how, and whether
 * a process died without being asked to.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/local/embedded-postgres.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLOCK_OFFSET = path.join(ROOT, 'test/soak/clock-offset.ts');

/**
 * The log lines that end an attempt, one per attempt whatever its outcome: "sync complete",
 * "sync failed: …", "sync aborted…: …", and where claims exist "sync refused: …" and
 * "sync deferred: …". A start is "sync start" or "sync start: resuming from the checkpoint".
 */
const ATTEMPT_END = /^sync (complete$|failed:|aborted|refused:|deferred:)/;

export interface Incarnation {
  pid: number;
  startedAt: number;
  /** Set when the soak signalled it (SIGKILL or SIGTERM): an exit it asked for. */
  signalled?: NodeJS.Signals;
  exit?: { code: number | null; signal: string | null; at: number };
  /** Syncs started and not yet ended, by event uid: when, and whether it resumed a checkpoint. */
  running: Map<string, { at: number; resumed: boolean }>;
  /** Syncs that completed: when each started (the soak's clock) and whether it read the list whole. */
  completions: Array<{ eventUid: string; startedAt: number; resumed: boolean }>;
  /** Every sync start it logged: event, trigger, and when the soak read the line. */
  starts: Array<{ eventUid: string; trigger: string; at: number }>;
  counts: { started: number; ended: number; complete: number; recordFailed: number };
  /** RSS in MB once warmed up (sampled by the soak), and at the end. */
  warmRssMb?: number;
  endRssMb?: number;
}

export interface Replica {
  name: string;
  httpUrl: string;
  webhookUrl: string;
  incarnations: Incarnation[];
  current(): Incarnation | undefined;
  alive(): boolean;
  start(env: Record<string, string>): Promise<void>;
  /** Sends `signal` and waits for the exit. */
  stop(signal: NodeJS.Signals): Promise<Incarnation['exit']>;
}

export async function createReplica(
  name: string,
  dir: string,
  options: {
    clockOffsetMs?: number;
    preloads?: string[];
    /** Told of every exit, asked for or not (the soak restarts a crashed replica, as an orchestrator would). */
    onExit?: (incarnation: Incarnation) => void;
  } = {},
): Promise<Replica> {
  const httpPort = await freePort();
  const webhookPort = await freePort();
  const incarnations: Incarnation[] = [];
  let child: ChildProcess | undefined;
  const log = createWriteStream(path.join(dir, `${name}.log`), { flags: 'a' });

  const replica: Replica = {
    name,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    webhookUrl: `http://127.0.0.1:${webhookPort}/webhooks/luma`,
    incarnations,
    current: () => incarnations.at(-1),
    alive: () => !!child && child.exitCode === null && child.signalCode === null,
    async start(env) {
      const preload = [...(options.clockOffsetMs ? [CLOCK_OFFSET] : []), ...(options.preloads ?? [])].flatMap(
        (file) => ['--import', file],
      );
      child = spawn(process.execPath, [...preload, path.join(ROOT, 'src/main.ts'), 'daemon'], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          ...env,
          HTTP_PORT: String(httpPort),
          LUMA_WEBHOOK_PORT: String(webhookPort),
          SOAK_CLOCK_OFFSET_MS: String(options.clockOffsetMs ?? 0),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const incarnation: Incarnation = {
        pid: child.pid!,
        startedAt: Date.now(),
        running: new Map(),
        completions: [],
        starts: [],
        counts: { started: 0, ended: 0, complete: 0, recordFailed: 0 },
      };
      incarnations.push(incarnation);
      log.write(`--- soak: ${name} started, pid ${child.pid}, ${new Date().toISOString()}\n`);
      let buffered = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        log.write(chunk);
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const text of lines) observe(incarnation, text);
      });
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => log.write(chunk));
      child.once('exit', (code, signal) => {
        incarnation.exit = { code, signal, at: Date.now() };
        log.write(`--- soak: ${name} exited (${code ?? signal}), ${new Date().toISOString()}\n`);
        options.onExit?.(incarnation);
      });
      await waitUntilReady(replica.httpUrl, child);
    },
    async stop(signal) {
      const incarnation = replica.current();
      if (!child || !incarnation || !replica.alive()) return incarnation?.exit;
      incarnation.signalled = signal;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
      return incarnation.exit;
    },
  };
  return replica;
}

function observe(incarnation: Incarnation, text: string): void {
  let line: { msg?: string; eventUid?: string; trigger?: string };
  try {
    line = JSON.parse(text);
  } catch {
    return;
  }
  if (line.msg?.startsWith('sync start') && line.eventUid) {
    incarnation.counts.started++;
    incarnation.running.set(line.eventUid, { at: Date.now(), resumed: line.msg !== 'sync start' });
    incarnation.starts.push({ eventUid: line.eventUid, trigger: line.trigger ?? 'unknown', at: Date.now() });
  } else if (line.msg && ATTEMPT_END.test(line.msg)) {
    incarnation.counts.ended++;
    const started = line.eventUid ? incarnation.running.get(line.eventUid) : undefined;
    if (line.msg === 'sync complete') {
      incarnation.counts.complete++;
      if (started)
        incarnation.completions.push({ eventUid: line.eventUid!, startedAt: started.at, resumed: started.resumed });
    }
    if (line.eventUid) incarnation.running.delete(line.eventUid);
  } else if (line.msg === 'could not record the sync attempt') {
    incarnation.counts.recordFailed++;
  }
}

async function waitUntilReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`replica exited with ${child.exitCode} while starting`);
    const ok = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`replica at ${url} not ready within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Resident memory of a live process, in MB (Linux /proc). */
export function rssMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Math.round(Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) / 1024);
  } catch {
    return undefined;
  }
}
