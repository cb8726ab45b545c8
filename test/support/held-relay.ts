import { createServer, type Socket } from 'node:net';
import { after } from 'node:test';
import { connectUpstream } from './tcp-relay.ts';

/**
 * A TCP relay to a server whose answers the test can hold back: while held, whatever the
 * server sends (its data, its end of the connection, a reset) waits in the relay, and
 * everything the client sends goes through. A client then writes a statement on a
 * connection the server has already ended, before it can know: the order a busy process
 * sees when the server's last words are still unread in its socket. Closed after the file.
 */
export interface HeldRelay {
  /** Where clients connect: 127.0.0.1 on the relay's port. */
  port: number;
  /** Holds back everything the server sends on the connections open now. */
  hold(): void;
  /** Client bytes relayed since hold(). */
  sentWhileHeld(): number;
  /** Delivers what was held, in order, then the server's end of the connection if it came. */
  release(): void;
}

interface Link {
  client: Socket;
  held: Buffer[] | undefined;
  /** The server ended or reset the connection while held. */
  endedWhileHeld: boolean;
}

export async function startHeldRelay(target: { host: string; port: number }): Promise<HeldRelay> {
  const links = new Set<Link>();
  const sockets = new Set<Socket>();
  let sentWhileHeld = 0;
  let holding = false;

  const server = createServer((client) => {
    const upstream = connectUpstream(client, target, sockets);
    const link: Link = { client, held: undefined, endedWhileHeld: false };
    links.add(link);
    client.on('close', () => links.delete(link));
    // connectUpstream destroys both sockets on an error of either: a held link's client
    // must see the server's last words first, so its upstream's errors are kept back.
    upstream.removeAllListeners('error');
    upstream.on('error', () => {
      if (link.held) link.endedWhileHeld = true;
      else client.destroy();
    });
    upstream.on('data', (chunk: Buffer) => {
      if (link.held) link.held.push(chunk);
      else client.write(chunk);
    });
    upstream.on('close', () => {
      if (link.held) link.endedWhileHeld = true;
      else client.end();
    });
    client.on('data', (chunk: Buffer) => {
      if (holding) sentWhileHeld += chunk.length;
      if (!upstream.destroyed) upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the relay has no port');
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  return {
    port: address.port,
    hold() {
      holding = true;
      sentWhileHeld = 0;
      for (const link of links) link.held ??= [];
    },
    sentWhileHeld: () => sentWhileHeld,
    release() {
      holding = false;
      for (const link of links) {
        const held = link.held;
        if (!held) continue;
        link.held = undefined;
        for (const chunk of held) link.client.write(chunk);
        if (link.endedWhileHeld) link.client.end();
      }
    },
  };
}
