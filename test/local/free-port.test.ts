/**
 * freePort (src/local/free-port.ts) hands out ports the kernel never gives an outgoing
 * connection as its local port: below the ephemeral range. The listen(0) probe it used
 * before returned a port inside that range, and on a busy machine a database connection
 * opened between the probe's close and the real bind took it (EADDRINUSE in
 * daemon-webhooks.test.ts during a full run beside other work).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { ephemeralLow, freePort } from '../../src/local/free-port.ts';

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('freePort', () => {
  it('hands out ports below the ephemeral range, each of them free to listen on', async () => {
    const low = ephemeralLow();
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const port of ports) {
      assert.ok(port >= 10000 && port < low, `${port} is not below the ephemeral range (from ${low})`);
    }
    const servers = [];
    for (const port of new Set(ports)) servers.push(await listen(port));
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  it('reads where the ephemeral range starts from the kernel', () => {
    const low = ephemeralLow();
    assert.ok(Number.isInteger(low) && low > 1024 && low <= 65535, String(low));
  });
});
