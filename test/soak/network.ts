/**
 * The network between the replicas and the database: a TCP relay in front of each route
 * they take (PostgreSQL directly, and PgBouncer), whose every open connection the soak can
 * reset at once, as a failover, a NAT gateway or a load balancer that drops its state does.
 * Each side of every connection gets a TCP reset (RST): the worker sees ECONNRESET on each
 * socket, whatever it was doing, the server sees its client gone.
 *
 * The reset waits for a statement in flight: a connection whose client has sent bytes the
 * server has not answered for BUSY_MS. Reset at an arbitrary instant, the replicas'
 * connections were all idle between statements (the runs of 2026-12-07), the easy case; the
 * hard one is a statement the database may have run, or not, when its answer is lost.
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { connectUpstream } from '../support/tcp-relay.ts';

/** How long a request must have gone unanswered to count as a statement running. */
const BUSY_MS = 2;

export interface NetworkReset {
  /** Client connections reset. */
  connections: number;
  /** Whether one of them had a statement in flight; false when none came within the wait. */
  midStatement: boolean;
}

export interface SoakNetwork {
  /** `url` with its host and port replaced by the relay in front of the same server. */
  route(url: string): string;
  /**
   * Resets every connection open through the relays, as soon as one of them has a statement
   * in flight, or after `maxWaitMs` whatever they do.
   */
  resetAll(maxWaitMs: number): Promise<NetworkReset>;
  stop(): Promise<void>;
}

export async function startSoakNetwork(urls: string[], { busyMs = BUSY_MS } = {}): Promise<SoakNetwork> {
  const sockets = new Set<Socket>();
  /** Every client connection, with when its unanswered request began (undefined: none). */
  const clients = new Map<Socket, { askedAt: number | undefined }>();
  /** Set while a reset waits for a statement in flight. */
  let onBusy: (() => void) | undefined;
  const relays = new Map<string, { server: Server; port: number }>();
  for (const url of urls) {
    const target = new URL(url);
    const key = `${target.hostname}:${target.port}`;
    if (relays.has(key)) continue;
    const server = createServer((client) => {
      const state = { askedAt: undefined as number | undefined };
      clients.set(client, state);
      client.on('close', () => clients.delete(client));
      const upstream = connectUpstream(client, { host: target.hostname, port: Number(target.port) }, sockets);
      client.on('data', () => {
        if (state.askedAt !== undefined) return;
        const askedAt = performance.now();
        state.askedAt = askedAt;
        // Still unanswered busyMs later: the server is running it.
        setTimeout(() => {
          if (state.askedAt === askedAt && !client.destroyed) onBusy?.();
        }, busyMs);
      });
      upstream.on('data', () => {
        state.askedAt = undefined;
      });
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relays.set(key, { server, port: (server.address() as AddressInfo).port });
  }

  function resetNow(midStatement: boolean): NetworkReset {
    const connections = clients.size;
    for (const socket of [...sockets]) {
      if (!socket.destroyed) socket.resetAndDestroy();
    }
    return { connections, midStatement };
  }

  return {
    route(url) {
      const routed = new URL(url);
      const relay = relays.get(`${routed.hostname}:${routed.port}`);
      if (!relay) throw new Error(`no relay in front of ${routed.hostname}:${routed.port}`);
      routed.hostname = '127.0.0.1';
      routed.port = String(relay.port);
      return routed.toString();
    },
    resetAll(maxWaitMs) {
      return new Promise((resolve) => {
        const late = setTimeout(() => {
          onBusy = undefined;
          resolve(resetNow(false));
        }, maxWaitMs);
        onBusy = () => {
          onBusy = undefined;
          clearTimeout(late);
          resolve(resetNow(true));
        };
      });
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(
        [...relays.values()].map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))),
      );
    },
  };
}
