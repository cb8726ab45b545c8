import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after } from 'node:test';
import { connectUpstream } from './tcp-relay.ts';

/**
 * A TCP relay whose target the test can change: what a DNS name (a writer endpoint, a
 * blue/green endpoint) does in a switchover. A connection keeps the server it was opened
 * to; only connections opened after pointAt() reach the new one, as a host name resolved
 * again leads new connections elsewhere while the old ones stay where they are. Closed
 * after the test file.
 */
export interface RepointableRelay {
  host: string;
  port: number;
  /** New connections go to `target` from now on; open ones stay on their server. */
  pointAt(target: { host: string; port: number }): void;
}

export async function startRepointableRelay(target: { host: string; port: number }): Promise<RepointableRelay> {
  const sockets = new Set<Socket>();
  let current = target;
  const server = createServer((client) => {
    const upstream = connectUpstream(client, current, sockets);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    host: '127.0.0.1',
    port,
    pointAt(next) {
      current = next;
    },
  };
}
