import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getResponse, type HttpHandler, HttpResponse } from 'msw';
import {
  createLumaHandlers,
  type LumaHandlers,
  type LumaSimulatorOptions,
  type LumaSimulatorStats,
} from './luma-simulator.ts';

export interface RunningLumaSimulator {
  /** Base URL, e.g. http://127.0.0.1:54321, for LUMA_API_URL. */
  url: string;
  stats: LumaSimulatorStats;
  /** The simulator's webhooks and a guest registration that sends signed deliveries. */
  webhooks: LumaHandlers['webhooks'];
  registerGuest: LumaHandlers['registerGuest'];
  stop(): Promise<void>;
}

/**
 * Serves createLumaHandlers(opts) over real HTTP; by default on 127.0.0.1 and a free
 * port (tests, benchmarks), or where `listen` says (a container of its own).
 */
export async function startLumaSimulator(
  opts: LumaSimulatorOptions,
  listen: { host?: string; port?: number } = {},
): Promise<RunningLumaSimulator> {
  const handlers = createLumaHandlers(opts);
  const server = createServer((req, res) => {
    void serve(handlers, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port ?? 0, listen.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = !listen.host || listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    stats: handlers.stats,
    webhooks: handlers.webhooks,
    registerGuest: handlers.registerGuest,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function serve(handlers: HttpHandler[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  // Aborted when the client goes away, so a slow handler stops waiting.
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  try {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      for (const item of Array.isArray(value) ? value : [value ?? '']) headers.append(name, item);
    }
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const body = hasBody ? Buffer.concat(await req.toArray()) : undefined;
    const request = new Request(new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`), {
      method: req.method,
      headers,
      body,
      signal: gone.signal,
    });
    const response =
      (await getResponse(handlers, request)) ?? HttpResponse.json({ message: 'Not found' }, { status: 404 });
    // HttpResponse.error() stands for a network failure: drop the connection.
    if (response.type === 'error') {
      req.socket.destroy();
      return;
    }
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  } catch {
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('simulator error');
  }
}
