/**
 * The network between the replicas and the database: a TCP relay in front of each route
 * they take (PostgreSQL directly, and PgBouncer), whose every open connection the soak can
 * reset at once, as a failover, a NAT gateway or a load balancer that drops its state does.
 * Each side of every connection gets a TCP reset (RST): the worker sees ECONNRESET on each
 * socket, whatever it was doing, the server sees its client gone.
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { connectUpstream } from '../support/tcp-relay.ts';

export interface SoakNetwork {
  /** `url` with its host and port replaced by the relay in front of the same server. */
  route(url: string): string;
  /** Resets every connection open through the relays; returns how many client connections. */
  resetAll(): number;
  stop(): Promise<void>;
}

export async function startSoakNetwork(urls: string[]): Promise<SoakNetwork> {
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();
  const relays = new Map<string, { server: Server; port: number }>();
  for (const url of urls) {
    const target = new URL(url);
    const key = `${target.hostname}:${target.port}`;
    if (relays.has(key)) continue;
    const server = createServer((client) => {
      clients.add(client);
      client.on('close', () => clients.delete(client));
      const upstream = connectUpstream(client, { host: target.hostname, port: Number(target.port) }, sockets);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relays.set(key, { server, port: (server.address() as AddressInfo).port });
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
    resetAll() {
      const count = clients.size;
      for (const socket of [...sockets]) {
        if (!socket.destroyed) socket.resetAndDestroy();
      }
      return count;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(
        [...relays.values()].map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))),
      );
    },
  };
}
