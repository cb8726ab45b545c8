import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { parseDatabaseUrl } from '../db/database-url.ts';
import { isConnectionLoss } from '../errors.ts';
import { freePort } from './free-port.ts';
import { type PgBouncerSettings, pgbouncerIni } from './pgbouncer-ini.ts';

export type { PgBouncerSettings };

/** Where Debian's `pgbouncer` package puts the binary; PGBOUNCER_BIN overrides it. */
const DEFAULT_BINARY = '/usr/sbin/pgbouncer';

/** PgBouncer listens on loopback only: a local tool, never a server for the network. */
const LISTEN_ADDRESS = '127.0.0.1';

/** Ports tried when each chosen one is taken by another process before PgBouncer binds it. */
const PORT_ATTEMPTS = 5;

export const PGBOUNCER_MISSING =
  'pgbouncer is not installed: the tests run the worker through it in transaction mode; install it with `sudo apt-get install -y pgbouncer` (Debian/Ubuntu) or set PGBOUNCER_BIN to its path';

export interface LocalPgBouncer {
  /** The upstream URL with host and port replaced by PgBouncer's; any database name passes through. */
  url: string;
  port: number;
  /** Stops the process (immediate shutdown: clients are disconnected). */
  stop(): Promise<void>;
  /**
   * Starts it again on the same port with the same configuration; fails, naming the port,
   * when another process took the port while it was down.
   */
  restart(): Promise<void>;
  /**
   * Runs a command of PgBouncer's admin console (e.g. "SHOW SERVERS") and returns its rows.
   * SHUTDOWN returns no rows once the process has exited (restart() starts it again); any
   * other command whose connection is refused or closed fails saying so.
   */
  admin(command: string): Promise<Array<Record<string, string>>>;
}

/** The pgbouncer binary, or an error saying how to install it. */
export function pgbouncerBinary(env: NodeJS.ProcessEnv = process.env): string {
  const binary = env.PGBOUNCER_BIN || DEFAULT_BINARY;
  try {
    accessSync(binary, constants.X_OK);
  } catch {
    throw new Error(PGBOUNCER_MISSING);
  }
  return binary;
}

/**
 * Starts PgBouncer in transaction mode on a free loopback port in front of the PostgreSQL
 * at `upstreamUrl`, as a child process with its own temporary configuration: every
 * database name is forwarded (`*`), and the URL's user and password are the only login.
 * Its settings are strict like a stock installation: unknown startup parameters are
 * refused, and nothing resets session state between clients. Resolves once PgBouncer
 * listens, so a client may connect at once. `choosePort` picks the port (freePort by
 * default; a test passes its own to hand it a taken one).
 */
export async function startPgBouncer(
  upstreamUrl: string,
  settings: PgBouncerSettings = {},
  choosePort: () => Promise<number> = freePort,
): Promise<LocalPgBouncer> {
  const binary = pgbouncerBinary();
  const upstream = parseDatabaseUrl(upstreamUrl);
  if (!upstream.host || !upstream.user)
    throw new Error('startPgBouncer needs an upstream URL with a TCP host and a user');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lgs-pgbouncer-'));
  const authFile = path.join(dir, 'users.txt');
  const configFile = path.join(dir, 'pgbouncer.ini');
  await writeFile(authFile, `${quote(upstream.user)} ${quote(upstream.password ?? '')}\n`, { mode: 0o600 });
  const writeConfig = (port: number) =>
    writeFile(configFile, pgbouncerIni({ upstream, listenAddress: LISTEN_ADDRESS, port, authFile }, settings));
  // PgBouncer refuses to run as root; it then runs as an unprivileged user that must read its files.
  const runAs = process.getuid?.() === 0 ? unprivilegedUser() : undefined;
  if (runAs) {
    for (const file of [dir, authFile]) await chown(file, runAs.uid, runAs.gid);
  }

  let child: ChildProcess | undefined;
  /** Runs PgBouncer on `port`; resolves once it listens there, or says the port was taken. */
  const start = async (port: number): Promise<'listening' | 'port taken'> => {
    await writeConfig(port);
    if (runAs) await chown(configFile, runAs.uid, runAs.gid);
    const args = runAs ? ['-u', runAs.name, configFile] : [configFile];
    const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    // A test run that dies must not leave a pooler listening behind it.
    const killOnExit = () => proc.kill('SIGKILL');
    process.once('exit', killOnExit);
    proc.once('exit', () => process.off('exit', killOnExit));
    return untilListening(proc, port);
  };

  // The chosen port was free when chosen; another process may take it before PgBouncer
  // binds it. PgBouncer then exits, and another port is tried.
  const tried: number[] = [];
  let port = await choosePort();
  while ((await start(port)) === 'port taken') {
    tried.push(port);
    if (tried.length === PORT_ATTEMPTS) {
      throw new Error(`pgbouncer could not listen: ports ${tried.join(', ')} on ${LISTEN_ADDRESS} were each taken`);
    }
    port = await choosePort();
  }

  const url = new URL(upstreamUrl.replace(/^postgresql:/, 'postgres:'));
  url.hostname = LISTEN_ADDRESS;
  url.port = String(port);
  const stopChild = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    await exited;
  };
  return {
    url: url.toString(),
    port,
    async stop() {
      await stopChild();
      await rm(dir, { recursive: true, force: true });
    },
    async admin(command: string) {
      const adminUrl = new URL(url);
      adminUrl.pathname = '/pgbouncer';
      // The admin console speaks only the simple protocol and has no pg_type to look up.
      const sql = postgres(adminUrl.toString(), { max: 1, prepare: false, fetch_types: false, onnotice: () => {} });
      const shutdown = SHUTDOWN.test(command);
      let rows: Array<Record<string, string>>;
      try {
        rows = [...(await sql.unsafe(command))] as Array<Record<string, string>>;
      } catch (err) {
        if (!isConnectionLoss(err)) throw err;
        // SHUTDOWN answers nothing: PgBouncer closes the console's connection as it exits.
        if (!shutdown) {
          throw new Error(
            `PgBouncer's admin console was lost during "${command}" (${(err as Error).message}): is PgBouncer running?`,
            { cause: err },
          );
        }
        rows = [];
      } finally {
        // The command has settled, so nothing is in flight: ended at once. A graceful end()
        // after a connection closed under its statement never returns (postgres.js 3.4.9
        // still counts that statement as running and waits for it).
        await sql.end({ timeout: 0 });
      }
      if (shutdown) await childExited(child, `PgBouncer did not exit within ${EXIT_WAIT_MS / 1000} s of SHUTDOWN`);
      return rows;
    },
    async restart() {
      await stopChild();
      if (!existsSync(configFile)) throw new Error('PgBouncer was stopped for good; start a new one');
      // Its clients know this port: another one will not do.
      if ((await start(port)) === 'port taken') {
        throw new Error(`pgbouncer cannot restart: ${LISTEN_ADDRESS}:${port} is in use by another process`);
      }
    },
  };
}

/** An admin command after which PgBouncer exits (SHUTDOWN; not SHUTDOWN WAIT_FOR_*, which 1.18 lacks). */
const SHUTDOWN = /^\s*SHUTDOWN\s*;?\s*$/i;

/** How long admin('SHUTDOWN') waits for the process to exit. */
const EXIT_WAIT_MS = 10_000;

/** Resolves once `proc` has exited (at once if it has or there is none); rejects with `late` after EXIT_WAIT_MS. */
function childExited(proc: ChildProcess | undefined, late: string): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.off('exit', onExit);
      reject(new Error(late));
    }, EXIT_WAIT_MS);
    const onExit = () => {
      clearTimeout(timer);
      resolve();
    };
    proc.once('exit', onExit);
  });
}

/** pgbouncer's auth_file quoting: double quotes, a quote doubled. */
function quote(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

function unprivilegedUser(): { name: string; uid: number; gid: number } {
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      return { name, uid, gid };
    } catch {
      // not on this machine: try the next
    }
  }
  throw new Error('pgbouncer refuses to run as root and neither a "postgres" nor a "nobody" user exists');
}

/**
 * Resolves once PgBouncer logs that it listens on `port` (it logs it right after listen(),
 * so connections from then on queue for it); resolves 'port taken' when it exits because
 * another process holds the port; rejects with its last words if it exits otherwise, or
 * after 15 s.
 *
 * Its own word, not a probe of the port: in a process whose sockets msw intercepts (a test
 * file with the simulated Luma) a socket reports "connect" before any real connection
 * exists, so a probe waiting for "connect" passed while nothing listened yet and the first
 * client was refused; and a probe cannot tell PgBouncer from another process that took
 * the port between its choice and PgBouncer's bind.
 */
function untilListening(proc: ChildProcess, port: number): Promise<'listening' | 'port taken'> {
  const listening = `listening on ${LISTEN_ADDRESS}:${port}`;
  const taken = `cannot listen on ${LISTEN_ADDRESS}:${port}: bind()`;
  return new Promise((resolve, reject) => {
    // Kept short: only the last lines matter when it fails to start.
    let stderr = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      finish(() =>
        reject(new Error(`pgbouncer did not listen on ${LISTEN_ADDRESS}:${port} within 15 s: ${stderr.trim()}`)),
      );
    }, 15_000);
    const onData = (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
      if (stderr.includes(listening)) finish(() => resolve('listening'));
    };
    // 'close', not 'exit': its last lines are read by then.
    const onClose = (code: number | null, signal: NodeJS.Signals | null) => {
      if (stderr.includes(taken)) finish(() => resolve('port taken'));
      else finish(() => reject(new Error(`pgbouncer exited at start (${code ?? signal}): ${stderr.trim()}`)));
    };
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      proc.stderr?.off('data', onData);
      proc.off('close', onClose);
      // Drained from now on, so that a chatty PgBouncer never blocks on a full pipe.
      proc.stderr?.resume();
      settle();
    };
    proc.stderr?.on('data', onData);
    proc.once('close', onClose);
  });
}
