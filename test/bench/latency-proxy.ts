import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connectUpstream } from '../support/tcp-relay.ts';

export interface LatencyProxy {
  /** Where clients connect instead of the target: http://127.0.0.1:<free port>. */
  url: string;
  /** The round trip it adds to every request/response exchange, in ms. */
  rttMs: number;
  stop(): Promise<void>;
}

/**
 * A TCP relay that delays every chunk by half of `rttMs` in each direction, so each
 * request/response on a kept-alive connection costs one extra round trip, as a real SQS
 * endpoint 10–30 ms away does. A loopback server inside the bench has none, which made
 * the scheduler's 1,000 SendMessageBatch calls look free. Connection set-up is not delayed
 * (the SDK keeps connections alive, so it is paid once per socket); chunks keep their order
 * because every chunk in one direction waits the same time.
 */
export async function startLatencyProxy(target: { host: string; port: number }, rttMs: number): Promise<LatencyProxy> {
  // A timer cannot wait less than 1 ms (Node rounds 0.5 up to 1), so a round trip between 0
  // and 2 ms is charged whole on the way back (there: undefined, sent at once), and one
  // exchange still pays rttMs rather than 2 ms.
  const [there, back] = rttMs > 0 && rttMs < 2 ? [undefined, rttMs] : [rttMs / 2, rttMs / 2];
  const sockets = new Set<Socket>();
  const delayed = (from: Socket, to: Socket, ms: number | undefined) => {
    from.on('data', (chunk) => {
      if (ms === undefined) to.write(chunk);
      else setTimeout(() => to.write(chunk), ms);
    });
    from.on('end', () => (ms === undefined ? to.end() : setTimeout(() => to.end(), ms)));
  };
  const server = createServer((client) => {
    const upstream = connectUpstream(client, target, sockets);
    delayed(client, upstream, there);
    delayed(upstream, client, back);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    rttMs,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * An SQS server with `rttMs` in front, in a child process of its own: a real SQS is
 * another machine, and inside the bench process the server's work and the proxy's timers
 * would compete with the scheduler for the event loop. Stopped with `stop()`.
 */
export async function startRemoteSqs(
  rttMs: number,
): Promise<{ endpoint: string; cpuSeconds(): number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), String(rttMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return {
    endpoint: line.trim(),
    // utime + stime from /proc (Linux), in clock ticks of 10 ms: the server's own CPU use.
    cpuSeconds() {
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/**
 * A PostgreSQL URL that reaches the same server through a proxy adding `rttMs` per
 * exchange, run in a child process of its own (for the same reason as startRemoteSqs):
 * a production database is another machine, 0.5–2 ms away, where every statement pays
 * a round trip that a loopback server in the bench does not charge.
 */
export async function startRemoteDatabaseUrl(
  url: string,
  rttMs: number,
): Promise<{ url: string; stop(): Promise<void> }> {
  const target = new URL(url);
  const child = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), String(rttMs), target.hostname, target.port || '5432'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const proxied = new URL(url);
  proxied.port = new URL(line.trim()).port;
  return {
    url: proxied.toString(),
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

// As a script: `<rttMs>` puts fauxqs on a free loopback port behind the proxy;
// `<rttMs> <host> <port>` proxies that server instead. Prints the proxy's URL.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [rtt, host, port] = process.argv.slice(2);
  const fauxqs = host
    ? undefined
    : await (await import('fauxqs')).startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
  const target = fauxqs ? { host: '127.0.0.1', port: fauxqs.port } : { host: host!, port: Number(port) };
  const proxy = await startLatencyProxy(target, Number(rtt));
  console.log(proxy.url);
  process.once('SIGTERM', () => void Promise.all([proxy.stop(), fauxqs?.stop()]).then(() => process.exit(0)));
}
