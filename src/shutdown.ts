import type { Logger } from './log.ts';

/** Frees one resource; may be async. Errors are logged and the remaining releases still run. */
export type Release = (context: ReleaseContext) => Promise<void> | void;

export interface ReleaseContext {
  /**
   * What is left of the one grace period all releases share (never below 0). A release
   * that waits for work (an enqueue run, in-flight syncs) waits at most this long, so
   * waiting releases in a row cannot add up past the deadline.
   */
  remainingMs(): number;
}

export interface ShutdownOptions {
  log: Pick<Logger, 'info' | 'warn' | 'error'> & Partial<Pick<Logger, 'flush'>>;
  /** How long the releases may take (an in-flight sync finishing); SHUTDOWN_GRACE_MS. */
  graceMs: number;
  /** Added to graceMs before the force-exit timer fires, so the releases' own deadlines win. */
  marginMs?: number;
  /** Injected by tests; process.exit otherwise. */
  exit?: (code: number) => void;
  /** Injected by tests; `process` otherwise. */
  signals?: Pick<NodeJS.Process, 'on' | 'off'>;
}

export interface Shutdown {
  /**
   * Adds a release; releases run in the reverse order of registration. One registered
   * while shutdown is under way (startup racing a SIGTERM) is released next, never lost.
   */
  register(name: string, release: Release): void;
  /**
   * Runs every release once, then flushes the log and exits with `exitCode`. Idempotent:
   * later calls return the first call's promise. Exits 1 when the deadline passes first.
   */
  shutdown(reason: string, exitCode?: number): Promise<void>;
  isShuttingDown(): boolean;
  /** SIGTERM and SIGINT start a shutdown; a second signal exits at once (128 + signal number). */
  installSignalHandlers(): () => void;
}

/** Default `marginMs`: deployment grace periods must cover graceMs plus this. */
export const DEFAULT_MARGIN_MS = 3_000;
const FLUSH_TIMEOUT_MS = 1_000;
const SIGNAL_EXIT_CODES: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * The one shutdown coordinator. daemon.ts registers each resource's release as it
 * creates it; the last registered is released first: what stops the intake of new work
 * (the cron and the consumer's polling), then the work in progress (the enqueue run, the
 * syncs), then the rest, the database last since everything else uses it.
 */
export function createShutdown(options: ShutdownOptions): Shutdown {
  const { log, graceMs } = options;
  const marginMs = options.marginMs ?? DEFAULT_MARGIN_MS;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? process;
  const releases: Array<{ name: string; release: Release }> = [];
  let running: Promise<void> | undefined;
  let releasesDone = false;
  let exited = false;

  function exitNow(code: number): void {
    if (exited) return;
    exited = true;
    exit(code);
  }

  async function exitAfterFlush(code: number): Promise<void> {
    if (exited) return;
    await flush(log);
    exitNow(code);
  }

  let context: ReleaseContext = { remainingMs: () => graceMs };

  async function guarded({ name, release }: { name: string; release: Release }): Promise<void> {
    const started = performance.now();
    try {
      await release(context);
      log.info({ release: name, ms: Math.round(performance.now() - started) }, 'released');
    } catch (err) {
      log.error({ err, release: name }, 'release failed; continuing shutdown');
    }
  }

  async function run(reason: string, exitCode: number): Promise<void> {
    log.info({ reason, graceMs, releases: releases.length }, 'shutdown started');
    const graceEndsAt = performance.now() + graceMs;
    context = { remainingMs: () => Math.max(0, Math.round(graceEndsAt - performance.now())) };
    // unref'd: it must not keep an otherwise finished process alive, only end a hung one.
    const deadline = setTimeout(() => {
      log.error({ reason, graceMs, marginMs }, 'shutdown deadline passed; forcing exit');
      void exitAfterFlush(1);
    }, graceMs + marginMs).unref();

    // A stack: something registered while shutdown runs (a startup step that was still
    // in progress) depends on what came before it, so it is released next.
    for (let next = releases.pop(); next; next = releases.pop()) await guarded(next);
    releasesDone = true;
    clearTimeout(deadline);
    log.info({ reason, exitCode }, 'shutdown complete');
    await exitAfterFlush(exitCode);
  }

  const shutdown: Shutdown = {
    register(name, release) {
      // Registered after every release ran (the process is about to exit): free it now.
      if (releasesDone) void guarded({ name, release });
      else releases.push({ name, release });
    },
    shutdown(reason, exitCode = 0) {
      running ??= run(reason, exitCode);
      return running;
    },
    isShuttingDown: () => running !== undefined,
    installSignalHandlers() {
      const onSignal = (signal: NodeJS.Signals) => {
        if (running) {
          // The operator insists: no flush wait, no release; pino's stdout writes are synchronous.
          log.warn({ signal }, 'second signal: exiting now');
          exitNow(SIGNAL_EXIT_CODES[signal] ?? 1);
          return;
        }
        void shutdown.shutdown(`signal ${signal}`);
      };
      signals.on('SIGTERM', onSignal);
      signals.on('SIGINT', onSignal);
      return () => {
        signals.off('SIGTERM', onSignal);
        signals.off('SIGINT', onSignal);
      };
    },
  };
  return shutdown;
}

/** pino buffers asynchronously with some destinations; bounded so a stuck stream cannot block exit. */
async function flush(log: Partial<Pick<Logger, 'flush'>>): Promise<void> {
  if (typeof log.flush !== 'function') return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, FLUSH_TIMEOUT_MS).unref();
    try {
      log.flush?.(() => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}
