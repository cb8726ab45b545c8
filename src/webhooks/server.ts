import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from '../http/node-http.ts';
import { serverClose } from '../http/server-close.ts';
import type { Logger } from '../log.ts';
import type { Offer } from './debounce.ts';
import { BadDeliveryError, parseDelivery } from './delivery.ts';
import type { LinkedEvent } from './linked-events.ts';
import { LookupCappedError } from './lookup-gate.ts';
import { SignatureError, type Verifier } from './verify.ts';

export const WEBHOOK_PATH = '/webhooks/luma';
/** Guest deliveries are a few KB; anything far larger is not one. */
export const MAX_BODY_BYTES = 64 * 1024;

/** How a delivery ended, for lgs_webhook_deliveries_total{outcome}. */
export const WEBHOOK_OUTCOMES = [
  'accepted',
  'coalesced',
  'capped',
  'unknown_event',
  'ignored',
  'bad_request',
  'unauthorized',
  'too_large',
  'unavailable',
] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

/**
 * What one client may hold on the public port. Keep-alive outlives the idle timeout of the
 * load balancer in front (ALB: 60 s): a server that closes an idle connection first races
 * the balancer's next request on it, a classic cause of intermittent 502s.
 */
export interface WebhookServerLimits {
  /** Open connections at once; past it a new connection is closed at once. */
  maxConnections: number;
  /** Time for a request's headers to arrive, from its first byte or the connection's start. */
  headersTimeoutMs: number;
  /** Time for a whole request, body included, to arrive. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** How often Node checks the two timeouts above (its default, 30 s, would add as much). */
  checkIntervalMs: number;
}

export const WEBHOOK_SERVER_LIMITS: WebhookServerLimits = {
  maxConnections: 256,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  keepAliveTimeoutMs: 65_000,
  checkIntervalMs: 1_000,
};

export interface WebhookServerDeps {
  port: number;
  /** WEBHOOK_SERVER_LIMITS unless given; tests shrink them. */
  limits?: Partial<WebhookServerLimits>;
  host?: string;
  /** Absent when no secret is configured: deliveries are then not verified. */
  verify?: Verifier;
  findLinkedEvents: (lumaEventId: string) => Promise<LinkedEvent[]>;
  offer: (event: LinkedEvent) => Offer;
  log: Pick<Logger, 'info' | 'warn' | 'debug' | 'error'>;
  onOutcome?: (outcome: WebhookOutcome) => void;
}

const STATUS: Record<WebhookOutcome, number> = {
  accepted: 202,
  coalesced: 202,
  capped: 202,
  // 2xx, so Luma does not retry a delivery the directory can do nothing with.
  unknown_event: 200,
  ignored: 200,
  bad_request: 400,
  unauthorized: 401,
  too_large: 413,
  // Our database is down: Luma's retry may find it back.
  unavailable: 503,
};

class TooLargeError extends Error {}

/**
 * The Luma webhook receiver, on a port of its own (the probes' port is never exposed).
 * It answers fast: the enqueue happens when the debounce window ends. A delivery never
 * writes its payload anywhere; it only makes the worker read the event's list from Luma.
 */
export async function startWebhookServer(deps: WebhookServerDeps): Promise<{ port: number; close(): Promise<void> }> {
  // Every answer goes out here: once close() was called, it ends its connection
  // (server-close.ts: a busy keep-alive connection would hold the shutdown).
  function reply(res: ServerResponse, status: number, body: object): void {
    closing.beforeAnswer(res);
    writeReply(res, status, body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<WebhookOutcome | undefined> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== WEBHOOK_PATH) {
      reply(res, 404, { error: 'not found' });
      return undefined;
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      reply(res, 405, { error: 'method not allowed' });
      return undefined;
    }
    let raw: string;
    try {
      raw = await readBody(req);
    } catch (err) {
      if (!(err instanceof TooLargeError)) throw err;
      // Close the connection rather than read the rest of an oversized body.
      res.setHeader('connection', 'close');
      return outcome(res, 'too_large', `body larger than ${MAX_BODY_BYTES} bytes`);
    }
    if (deps.verify) {
      try {
        deps.verify(raw, req.headers);
      } catch (err) {
        if (!(err instanceof SignatureError)) throw err;
        deps.log.warn({ reason: err.message, webhookId: header(req, 'webhook-id') }, 'webhook signature rejected');
        return outcome(res, 'unauthorized', 'signature verification failed');
      }
    }
    let delivery: ReturnType<typeof parseDelivery>;
    try {
      delivery = parseDelivery(raw);
    } catch (err) {
      if (!(err instanceof BadDeliveryError)) throw err;
      deps.log.warn({ reason: err.message }, 'webhook delivery rejected');
      return outcome(res, 'bad_request', err.message);
    }
    if (!delivery.lumaEventId) return outcome(res, 'ignored', `type ${delivery.type} does not change a guest list`);
    let events: LinkedEvent[];
    try {
      events = await deps.findLinkedEvents(delivery.lumaEventId);
    } catch (err) {
      if (err instanceof LookupCappedError) return outcome(res, 'capped', 'too many deliveries: dropped');
      deps.log.error({ err, lumaEventId: delivery.lumaEventId }, 'webhook: could not look up the linked events');
      return outcome(res, 'unavailable', 'try again later');
    }
    if (events.length === 0) return outcome(res, 'unknown_event', 'no syncable directory event is linked to it');
    const offers = events.map((event) => deps.offer(event));
    const result: WebhookOutcome = offers.includes('scheduled')
      ? 'accepted'
      : offers.includes('coalesced')
        ? 'coalesced'
        : 'capped';
    deps.log.info(
      { type: delivery.type, lumaEventId: delivery.lumaEventId, eventUids: events.map((e) => e.eventUid), result },
      'webhook delivery',
    );
    return outcome(res, result, `${events.length} event(s)`);
  }

  function outcome(res: ServerResponse, result: WebhookOutcome, detail: string): WebhookOutcome {
    reply(res, STATUS[result], { outcome: result, detail });
    return result;
  }

  const limits = { ...WEBHOOK_SERVER_LIMITS, ...deps.limits };
  const options = {
    connectionsCheckingInterval: limits.checkIntervalMs,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
  };
  const server = createServer(options, (req, res) => {
    handle(req, res).then(
      (result) => {
        if (result) deps.onOutcome?.(result);
      },
      (err) => {
        deps.log.error({ err }, 'webhook handler failed');
        if (!res.headersSent) reply(res, 500, { error: 'internal error' });
        else res.destroy();
      },
    );
  });
  server.maxConnections = limits.maxConnections;
  const closing = serverClose(server);
  server.listen(deps.port, deps.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  deps.log.info({ port, path: WEBHOOK_PATH, verified: Boolean(deps.verify) }, 'webhook receiver listening');
  return {
    port,
    close: closing.close,
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value.slice(0, 100) : undefined;
}

/**
 * The body as text, refusing (by Content-Length, or while reading) anything over
 * MAX_BODY_BYTES. The rest of a refused body is discarded, not read into memory, so the
 * 413 still reaches the client.
 */
function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
    req.resume();
    return Promise.reject(new TooLargeError());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData);
      req.resume();
      reject(new TooLargeError());
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

function writeReply(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}
