import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.ts';
import type { Metrics } from './metrics.ts';
import { createServer } from './node-http.ts';
import type { ReadinessReport } from './readiness.ts';
import { serverClose } from './server-close.ts';

export interface HttpServerOptions {
  port: number;
  /** Defaults to every interface, as a container needs. */
  host?: string;
  metrics: Pick<Metrics, 'registry' | 'contentType'>;
  readiness: () => Promise<ReadinessReport>;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Upper bound on one /readyz answer, whatever the readiness function does. */
  readinessTimeoutMs?: number;
}

export interface RunningHttpServer {
  /** The bound port (the real one when `port` was 0). */
  port: number;
  close(): Promise<void>;
}

const ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Serves the probes and metrics:
 * - GET /healthz: 200 "ok" while the event loop turns (liveness; no dependency is checked,
 *   so a database outage makes the pod unready, never restarted),
 * - GET /readyz: 200 or 503 with the checks as JSON (short details only, never secrets),
 * - GET /metrics: Prometheus text.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const { metrics, readiness, log } = options;
  const readinessTimeoutMs = options.readinessTimeoutMs ?? 5_000;

  /** Every answer goes out here: once close() was called, it ends its connection. */
  function answer(res: ServerResponse, status: number, contentType: string, text: string): void {
    closing.beforeAnswer(res);
    send(res, status, contentType, text);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (!ROUTES.has(path)) return answer(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return answer(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    if (path === '/healthz') return answer(res, 200, 'text/plain; charset=utf-8', 'ok\n');
    if (path === '/metrics') return answer(res, 200, metrics.contentType, await metrics.registry.metrics());
    const report = await withTimeout(
      readiness().catch((err): ReadinessReport => {
        log.error({ err }, 'readiness check threw');
        return { ready: false, checks: { readiness: { ok: false, detail: 'readiness check failed' } } };
      }),
      readinessTimeoutMs,
    );
    const body = `${JSON.stringify(report)}\n`;
    return answer(res, report.ready ? 200 : 503, 'application/json; charset=utf-8', body);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      log.error({ err, url: req.url }, 'http handler failed');
      if (!res.headersSent) answer(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  // Probes and scrapers reconnect cheaply; keep idle sockets from outliving a shutdown.
  server.keepAliveTimeout = 5_000;
  const closing = serverClose(server);
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  log.info({ port }, 'http server listening');

  return {
    port,
    close: closing.close,
  };
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

async function withTimeout(report: Promise<ReadinessReport>, ms: number): Promise<ReadinessReport> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<ReadinessReport>((resolve) => {
    timer = setTimeout(
      () => resolve({ ready: false, checks: { readiness: { ok: false, detail: `no answer within ${ms} ms` } } }),
      ms,
    );
  });
  try {
    return await Promise.race([report, late]);
  } finally {
    clearTimeout(timer);
  }
}
