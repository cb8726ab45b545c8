import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { startSoakNetwork } from './network.ts';

/**
 * The soak's network fault on its own: a server that answers each request after a delay
 * stands in for a database running a statement.
 */
async function slowServer(answerAfterMs: number) {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.on('data', () => {
      setTimeout(() => {
        if (!socket.destroyed) socket.write('answer');
      }, answerAfterMs);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `postgres://u@127.0.0.1:${(server.address() as AddressInfo).port}/db`;
}

async function client(
  url: string,
): Promise<{ socket: Socket; error: Promise<NodeJS.ErrnoException>; answers: () => string }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    received += chunk;
  });
  const error = new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve));
  return { socket, error, answers: () => received };
}

describe('the soak network', () => {
  it('resets every connection while one has a statement in flight, not while they are idle', async () => {
    const server = await slowServer(2_000);
    const network = await startSoakNetwork([server]);
    after(() => network.stop());
    const url = network.route(server);
    const busy = await client(url);
    const idle = await client(url);

    const reset = network.resetAll(10_000);
    // Nothing in flight: the reset waits.
    const early = await Promise.race([reset, new Promise((resolve) => setTimeout(() => resolve('waiting'), 100))]);
    assert.equal(early, 'waiting');

    busy.socket.write('statement');
    assert.deepEqual(await reset, { connections: 2, midStatement: true });
    assert.equal((await busy.error).code, 'ECONNRESET');
    assert.equal((await idle.error).code, 'ECONNRESET');
    assert.equal(busy.answers(), '', 'the statement was cut before its answer');
  });

  it('does not take a request answered at once for a statement in flight', async () => {
    // Answered at once, and counted as in flight only past a second: a loaded machine
    // cannot make an answer that late.
    const url = await slowServer(0);
    const network = await startSoakNetwork([url], { busyMs: 1_000 });
    after(() => network.stop());
    const quick = await client(network.route(url));
    const reset = network.resetAll(400);
    for (let i = 0; i < 5; i++) {
      const answered = once(quick.socket, 'data');
      quick.socket.write('quick');
      await answered;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(await reset, { connections: 1, midStatement: false });
  });

  it('resets anyway once its wait is over', async () => {
    const url = await slowServer(500);
    const network = await startSoakNetwork([url]);
    after(() => network.stop());
    const quiet = await client(network.route(url));
    assert.deepEqual(await network.resetAll(50), { connections: 1, midStatement: false });
    assert.equal((await quiet.error).code, 'ECONNRESET');
  });
});
