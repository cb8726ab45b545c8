/**
 * Issue 21 §2: the public webhook port bounds what one client can hold — connections,
 * time to send headers, time to send the request — and keeps idle connections open longer
 * than a load balancer's idle timeout (ALB: 60 s). Limits are shrunk here; the defaults
 * are checked as values.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { silentLogger } from '../../src/log.ts';
import { startWebhookServer, WEBHOOK_SERVER_LIMITS, type WebhookServerLimits } from '../../src/webhooks/server.ts';

async function server(limits: Partial<WebhookServerLimits> = {}) {
  const running = await startWebhookServer({
    port: 0,
    host: '127.0.0.1',
    limits,
    findLinkedEvents: async () => [],
    offer: () => 'scheduled',
    log: silentLogger,
  });
  after(() => running.close());
  return running.port;
}

/** Connects, writes `text`, and resolves with what came back once the server closed the socket. */
function heldOpen(port: number, text: string): Promise<{ closedAfterMs: number; reply: string }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let reply = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      reply += chunk;
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve({ closedAfterMs: Date.now() - started, reply }));
    // A socket the server never closes fails the test here rather than hanging it.
    setTimeout(() => reject(new Error(`still open after 20 s; got: ${reply}`)), 20_000).unref();
  });
}

describe('the webhook port’s limits', () => {
  it('keeps idle connections longer than a load balancer does (ALB: 60 s), and says so', async () => {
    assert.ok(WEBHOOK_SERVER_LIMITS.keepAliveTimeoutMs > 60_000);
    assert.ok(WEBHOOK_SERVER_LIMITS.requestTimeoutMs <= 30_000 && WEBHOOK_SERVER_LIMITS.headersTimeoutMs <= 10_000);
    const port = await server();
    const response = await fetch(`http://127.0.0.1:${port}/webhooks/luma`, { method: 'POST', body: '{}' });
    await response.text();
    assert.equal(response.headers.get('keep-alive'), `timeout=${WEBHOOK_SERVER_LIMITS.keepAliveTimeoutMs / 1000}`);
  });

  it('closes a connection whose headers never finish, or that sends nothing', async () => {
    const port = await server({ headersTimeoutMs: 300, requestTimeoutMs: 600, checkIntervalMs: 100 });
    const partial = await heldOpen(port, 'POST /webhooks/luma HTTP/1.1\r\nHost: x\r\n');
    assert.match(partial.reply, /^HTTP\/1\.1 408/);
    const silent = await heldOpen(port, '');
    assert.ok(silent.closedAfterMs < 20_000);
  });

  it('closes a request whose body trickles in past the request timeout', async () => {
    const port = await server({ headersTimeoutMs: 300, requestTimeoutMs: 600, checkIntervalMs: 100 });
    const slow = await heldOpen(
      port,
      'POST /webhooks/luma HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"type":',
    );
    assert.match(slow.reply, /^HTTP\/1\.1 408/);
  });

  it('refuses connections past the cap', async () => {
    const port = await server({ maxConnections: 2 });
    const open: net.Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const socket = net.connect(port, '127.0.0.1');
        await new Promise((resolve) => socket.once('connect', resolve));
        open.push(socket);
      }
      // Give the server the two connections before the third arrives.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const third = await heldOpen(port, 'POST /webhooks/luma HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}');
      assert.equal(third.reply, '', 'closed without an answer');
    } finally {
      // Before the server's own clean-up, which waits for its connections to end.
      for (const socket of open) socket.destroy();
    }
  });
});
