/**
 * A TCP relay that cuts a connection at a chosen statement: once armed with a piece of
 * text, the first client chunk that carries it is never delivered, and both sockets of
 * that connection are destroyed, as a network drop at that moment would. What a test
 * needs to lose a session during one particular statement, and no other.
 *
 * A cut closes the client's side in order (the client reads an end of stream) unless it
 * is armed to reset it: then the client's socket fails with Node's own ECONNRESET, as it
 * does when a server host goes down or a middlebox drops the flow.
 */
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after } from 'node:test';
import { connectUpstream } from './tcp-relay.ts';

export interface TripwireLink {
  host: string;
  port: number;
  /** Cuts the next connection whose client sends `text`; once. */
  arm(text: string, how?: 'close' | 'reset'): void;
  /** Connections cut so far. */
  cut(): number;
}

/** A relay to `target` on a loopback port of its own, stopped after the test file. */
export async function startTripwireLink(target: { host: string; port: number }): Promise<TripwireLink> {
  const sockets = new Set<Socket>();
  let armed: string | undefined;
  let cutBy: 'close' | 'reset' = 'close';
  let cut = 0;
  const server = createServer((client) => {
    const upstream = connectUpstream(client, target, sockets);
    client.on('data', (chunk: Buffer) => {
      if (armed !== undefined && chunk.includes(armed)) {
        armed = undefined;
        cut++;
        if (cutBy === 'reset') client.resetAndDestroy();
        else client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    arm(text, how = 'close') {
      armed = text;
      cutBy = how;
    },
    cut: () => cut,
  };
}

/** A tripwire link in front of the database of `databaseUrl`, and that URL pointed through it. */
export async function tripwireToDatabase(databaseUrl: string): Promise<{ link: TripwireLink; url: string }> {
  const direct = new URL(databaseUrl);
  const link = await startTripwireLink({ host: direct.hostname, port: Number(direct.port) });
  const linked = new URL(databaseUrl);
  linked.hostname = link.host;
  linked.port = String(link.port);
  return { link, url: linked.toString() };
}
