import { readFileSync } from 'node:fs';
import net from 'node:net';

/** Where the kernel's ephemeral range starts when it cannot be read (Linux's default). */
const DEFAULT_EPHEMERAL_LOW = 32768;
/** The lowest port handed out: above the well-known and most registered services' ports. */
const LOWEST = 10000;
const TRIES = 20;

/**
 * A TCP port free on the loopback interface right now, for a server that a child process
 * (PostgreSQL, PgBouncer, the worker) or a later call binds. Taken below the kernel's
 * ephemeral range: a port there is never handed out as the local port of an outgoing
 * connection, which on a busy machine (a test run's hundreds of database connections)
 * took the port of the listen(0) probe used before between its close and the real bind
 * (EADDRINUSE). Random within that range, so concurrent callers rarely draw the same
 * port; one that another listener holds is skipped. Falls back to a port the OS picks.
 */
export async function freePort(): Promise<number> {
  const high = ephemeralLow() - 1;
  for (let i = 0; i < TRIES && high > LOWEST; i++) {
    const port = LOWEST + Math.floor(Math.random() * (high - LOWEST + 1));
    if (await canListen(port)) return port;
  }
  return listenedPort(0);
}

/** The first port of the kernel's ephemeral range (Linux), or its default elsewhere. */
export function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : DEFAULT_EPHEMERAL_LOW;
  } catch {
    return DEFAULT_EPHEMERAL_LOW;
  }
}

async function canListen(port: number): Promise<boolean> {
  try {
    await listenedPort(port);
    return true;
  } catch {
    return false;
  }
}

/** Listens on `port` (0: one the OS picks) on 127.0.0.1, closes, and says which port it was. */
function listenedPort(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(port, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
