import net from 'node:net';
import { after } from 'node:test';
import postgres from 'postgres';
import { parseDatabaseUrl } from '../../src/db/database-url.ts';

/**
 * A bare postgres.js pool of one connection whose sockets the test makes (the driver's
 * `socket` option), so that it can fail or close one at the moment it chooses, and count
 * what the driver wrote on each. Ended after the test file.
 */
export function poolWithOwnSockets(url: string, behindPooler: boolean) {
  const target = parseDatabaseUrl(url);
  const sockets: net.Socket[] = [];
  const writes = new Map<net.Socket, number>();
  // `socket` is the driver's own option, missing from its type declarations.
  const options = {
    max: 1,
    onnotice: () => {},
    // The worker's own connect timeout: a poisoned connection fails at it.
    connect_timeout: 10,
    // As the worker connects behind a transaction-mode pooler: nothing prepared.
    prepare: !behindPooler,
    socket: () => {
      const socket = net.connect(target.port, target.host ?? '127.0.0.1');
      const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
      socket.write = ((...args: unknown[]) => {
        writes.set(socket, (writes.get(socket) ?? 0) + 1);
        return write(...args);
      }) as typeof socket.write;
      sockets.push(socket);
      return socket;
    },
  };
  const sql = postgres(url, options as postgres.Options<Record<string, never>>);
  after(() => sql.end({ timeout: 1 }));
  return { sql, sockets, writes };
}
