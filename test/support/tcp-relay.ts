import { connect, type Socket } from 'node:net';

/**
 * Opens the upstream connection for one relayed client and ties the two together: both
 * are tracked in `sockets` until they close (so the relay can destroy them on stop), and
 * an error on either end destroys both, as a dropped connection would. Moving the bytes
 * is the caller's: piped, counted or delayed.
 */
export function connectUpstream(client: Socket, target: { host: string; port: number }, sockets: Set<Socket>): Socket {
  const upstream = connect(target.port, target.host);
  for (const socket of [client, upstream]) {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {
      client.destroy();
      upstream.destroy();
    });
  }
  return upstream;
}
