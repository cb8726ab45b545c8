import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, describe, it } from 'node:test';
import { createDatabase } from '../../src/db/client.ts';
import { checkSchema } from '../../src/db/schema-check.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { createReadiness, type ReadinessReport, type SqlTag } from '../../src/http/readiness.ts';
import { type RunningHttpServer, startHttpServer } from '../../src/http/server.ts';
import { silentLogger } from '../../src/log.ts';

const READY: ReadinessReport = { ready: true, checks: { database: { ok: true } } };
const SCHEMA_OK = { ok: true, missing: [], message: 'schema ok' };

async function serve(
  options: {
    readiness?: () => Promise<ReadinessReport>;
    readinessTimeoutMs?: number;
    metrics?: ReturnType<typeof createMetrics>;
  } = {},
): Promise<{ server: RunningHttpServer; url: string }> {
  const server = await startHttpServer({
    port: 0,
    host: '127.0.0.1',
    metrics: options.metrics ?? createMetrics(),
    readiness: options.readiness ?? (async () => READY),
    readinessTimeoutMs: options.readinessTimeoutMs,
    log: silentLogger,
  });
  after(() => server.close());
  return { server, url: `http://127.0.0.1:${server.port}` };
}

describe('startHttpServer', () => {
  it('answers /healthz with 200 "ok"', async () => {
    const { url } = await serve({ readiness: async () => assert.fail('liveness must not run readiness checks') });
    const res = await fetch(`${url}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok\n');
  });

  it('answers /readyz with 200 and the checks when every check passes', async () => {
    const { url } = await serve();
    const res = await fetch(`${url}/readyz`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await res.json(), READY);
  });

  it('answers /readyz with 503 when the database check fails, without the URL or its password', async () => {
    const database = createDatabase({ url: 'postgres://lgs:Sup3r-S3cret-Pw@127.0.0.1:1/directory', poolMax: 1 });
    after(() => database.close());
    const readiness = createReadiness({
      sql: database.sql,
      checkSchema,
      sqsPing: async () => {},
      isShuttingDown: () => false,
    });
    const { url } = await serve({ readiness });
    const res = await fetch(`${url}/readyz`);
    assert.equal(res.status, 503);
    const text = await res.text();
    assert.doesNotMatch(text, /Sup3r-S3cret-Pw/);
    assert.doesNotMatch(text, /postgres:\/\//);
    const body = JSON.parse(text) as ReadinessReport;
    assert.equal(body.ready, false);
    assert.equal(body.checks.database?.ok, false);
  });

  it('answers /readyz with 503 when the database check times out', async () => {
    const readiness = createReadiness({
      sql: (() => new Promise(() => {})) as SqlTag,
      checkSchema: async () => SCHEMA_OK,
      sqsPing: async () => {},
      isShuttingDown: () => false,
      timeoutMs: 50,
    });
    const { url } = await serve({ readiness });
    const res = await fetch(`${url}/readyz`);
    assert.equal(res.status, 503);
    const body = (await res.json()) as ReadinessReport;
    assert.deepEqual(body.checks.database, { ok: false, detail: 'database check timed out after 50 ms' });
  });

  it('answers /readyz with 503 when the readiness function itself never settles or throws', async () => {
    const hung = await serve({ readiness: () => new Promise(() => {}), readinessTimeoutMs: 50 });
    assert.equal((await fetch(`${hung.url}/readyz`)).status, 503);
    const broken = await serve({
      readiness: async () => {
        throw new Error('postgres://user:leaked@db/x');
      },
    });
    const res = await fetch(`${broken.url}/readyz`);
    assert.equal(res.status, 503);
    assert.doesNotMatch(await res.text(), /leaked/);
  });

  it('serves Prometheus text on /metrics with the recorded values', async () => {
    const metrics = createMetrics();
    metrics.recordSyncResult({
      eventUid: 'evt-1',
      providerType: 'LUMA',
      pages: 1,
      fetched: 10,
      matched: 4,
      created: 4,
      skipped: 0,
      removed: 0,
      dryRun: false,
      durationMs: 1_500,
    });
    const { url } = await serve({ metrics });
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), metrics.contentType);
    const text = await res.text();
    assert.match(text, /^lgs_guests_created_total 4$/m);
    assert.match(text, /^lgs_sync_duration_seconds_count\{outcome="success"\} 1$/m);
  });

  it('answers 404 elsewhere and 405 to other methods', async () => {
    const { url } = await serve();
    assert.equal((await fetch(`${url}/`)).status, 404);
    assert.equal((await fetch(`${url}/healthz/extra`)).status, 404);
    const post = await fetch(`${url}/healthz`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    const head = await fetch(`${url}/healthz?probe=1`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  it('closes promptly while a client holds a keep-alive connection', async () => {
    const server = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      metrics: createMetrics(),
      readiness: async () => READY,
      log: silentLogger,
    });
    const agentRes = await new Promise<number>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: server.port,
        path: '/healthz',
        headers: { connection: 'keep-alive' },
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(agentRes, 200);
    // A close() that waited for the idle socket would end only when the server's 5 s
    // keep-alive timeout dropped it; it must end first (it takes a millisecond or so).
    let keepAliveTimer: NodeJS.Timeout | undefined;
    const keepAliveExpired = new Promise<'keep-alive timeout'>((resolve) => {
      keepAliveTimer = setTimeout(() => resolve('keep-alive timeout'), 4_500);
    });
    const first = await Promise.race([server.close().then(() => 'close' as const), keepAliveExpired]);
    clearTimeout(keepAliveTimer);
    assert.equal(first, 'close', 'close() does not wait for idle keep-alive sockets');
  });

  it('ends a keep-alive connection whose request was in flight at close(), after answering it', async () => {
    // Prometheus keeps its scrape connection open: a scrape or probe answered after
    // close() was called must not leave the connection open for the 5 s keep-alive
    // timeout, holding close(), and the shutdown with it.
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let asked = 0;
    const server = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      metrics: createMetrics(),
      readiness: async () => {
        asked++;
        await held;
        return READY;
      },
      log: silentLogger,
    });
    const socket = connect(server.port, '127.0.0.1');
    await once(socket, 'connect');
    let reply = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      reply += chunk;
    });
    const ended = once(socket, 'close');
    socket.write('GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    while (asked === 0) await new Promise((resolve) => setTimeout(resolve, 5));

    const closing = server.close();
    release();
    let keepAliveTimer: NodeJS.Timeout | undefined;
    const keepAliveExpired = new Promise<'keep-alive timeout'>((resolve) => {
      keepAliveTimer = setTimeout(() => resolve('keep-alive timeout'), 4_500);
    });
    const first = await Promise.race([closing.then(() => 'close' as const), keepAliveExpired]);
    clearTimeout(keepAliveTimer);
    assert.equal(first, 'close', 'close() ends once the request in flight is answered');
    await ended;
    assert.match(reply, /^HTTP\/1\.1 200/);
    assert.match(reply, /\r\nconnection: close\r\n/i, 'the answer tells the client the connection ends');
  });
});
