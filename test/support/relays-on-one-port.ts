import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { freePort } from '../../src/local/free-port.ts';
import { connectUpstream } from './tcp-relay.ts';

/**
 * TCP relays on the same port of several loopback addresses (127.0.0.2, 127.0.0.3, …),
 * each to its own server: two addresses a host name can lead to, for a client whose port
 * is fixed (PgBouncer's `host=name port=N`). Which server a connection reached is the
 * server's to say (inet_server_port()).
 */
export interface RelaysOnOnePort {
  port: number;
  stop(): Promise<void>;
}

const ATTEMPTS = 10;

export async function startRelaysOnOnePort(
  routes: Array<{ listen: string; target: { host: string; port: number } }>,
): Promise<RelaysOnOnePort> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const servers: Server[] = [];
    const sockets = new Set<Socket>();
    try {
      for (const route of routes) {
        const server = createServer((client) => {
          const upstream = connectUpstream(client, route.target, sockets);
          client.pipe(upstream);
          upstream.pipe(client);
        });
        servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, route.listen, () => resolve());
        });
        if ((server.address() as AddressInfo).port !== port) throw new Error('port moved');
      }
      return {
        port,
        async stop() {
          for (const socket of sockets) socket.destroy();
          await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
        },
      };
    } catch (err) {
      // The port was free on 127.0.0.1 but taken on another address: try another one.
      for (const server of servers) server.close();
      if (attempt === ATTEMPTS) throw err;
    }
  }
}
