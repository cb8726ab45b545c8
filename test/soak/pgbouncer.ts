/**
 * Debian's pgbouncer in transaction mode in front of the soak's PostgreSQL, for the part
 * of the run in which the replicas reach the database through a pooler (as behind
 * PgBouncer or RDS Proxy in production): session state — advisory locks, startup
 * settings, prepared statements — does not survive from one transaction to the next.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { freePort } from '../../src/local/embedded-postgres.ts';

export interface SoakPgBouncer {
  /** `target` with host and port replaced by the pooler's. */
  urlFor(target: string): string;
  stop(): Promise<void>;
}

export async function startSoakPgBouncer(dir: string, postgres: { port: number; password: string }) {
  const home = path.join(dir, 'pgbouncer');
  await mkdir(home, { recursive: true });
  // pgbouncer refuses to run as root: it runs as `postgres` (-u), which must read and write here.
  await chmod(home, 0o777);
  const port = await freePort();
  const ini = path.join(home, 'pgbouncer.ini');
  await writeFile(
    ini,
    [
      '[databases]',
      `* = host=127.0.0.1 port=${postgres.port} user=postgres password=${postgres.password}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      "unix_socket_dir = ''",
      'auth_type = any',
      'pool_mode = transaction',
      'max_client_conn = 1000',
      'default_pool_size = 40',
      // The client's extra_float_digits is harmless to drop; everything else is refused as it would be in production.
      'ignore_startup_parameters = extra_float_digits',
      `logfile = ${path.join(home, 'pgbouncer.log')}`,
      `pidfile = ${path.join(home, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
  );
  await chmod(ini, 0o644);
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn('pgbouncer', ['-q', ...(asRoot ? ['-u', 'postgres'] : []), ini], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForPort(port, child);
  return {
    urlFor(target: string) {
      const url = new URL(target);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString();
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  } satisfies SoakPgBouncer;
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(socket.end() && true));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('pgbouncer did not listen within 10 s');
}
