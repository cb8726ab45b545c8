/**
 * The test servers of test/support stop with a connection still open. A server's close()
 * waits for every connection to end, and Node's HTTP server closes only the idle ones
 * itself: a request in flight (a hung Luma page, a long poll through a relay) would keep
 * the file's teardown waiting until the runner's limit, as it once did in
 * test/ops/alert-delivery.test.ts. Each helper therefore destroys every connection first
 * (closeServer in close-server.ts for an HTTP server).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { closeServer } from './close-server.ts';
import { startCuttableLink, startFaultyLuma } from './faults.ts';
import { createFifoQueue, createTestSqs, createWatchedSqs, waitFor } from './sqs-queue.ts';

const connectionsOf = (server: Pick<Server, 'getConnections'>) =>
  new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

/**
 * A helper that waits for its connections hangs its test: this limit fails that test by
 * name (the file still waits for the helper's own after hook, up to the runner's limit).
 * It bounds a hang; it is not a measurement.
 */
const HANG = { timeout: 30_000 };

describe('stopping a test server with a connection still open', () => {
  it('an HTTP server’s close() alone leaves a request in flight open: why the helpers destroy connections', async () => {
    const server = createServer(() => {}); // never answers
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const request = fetch(`http://127.0.0.1:${port}/`).catch((err: unknown) => err);
    await waitFor(async () => (await connectionsOf(server)) === 1, 10_000, 'the request to arrive');
    let closed = false;
    server.close(() => {
      closed = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await connectionsOf(server), 1, 'close() did not end the request in flight');
    assert.equal(closed, false);
    server.closeAllConnections();
    assert.ok((await request) instanceof Error);
    await waitFor(() => closed, 10_000, 'the server to close once its connections are gone');
  });

  it('closeServer cuts a request in flight, and returns again for a server already closed', HANG, async () => {
    const server = createServer(() => {}); // never answers
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const request = fetch(`http://127.0.0.1:${port}/`).catch((err: unknown) => err);
    await waitFor(async () => (await connectionsOf(server)) === 1, 10_000, 'the request to arrive');
    await closeServer(server);
    assert.equal(server.listening, false);
    assert.ok((await request) instanceof Error, 'the request in flight was cut');
    // A test that closed its server itself leaves its teardown nothing to wait for.
    await closeServer(server);
  });

  it('the faulty Luma stops while a request it hangs is in flight', HANG, async () => {
    const luma = await startFaultyLuma({ events: {}, apiKey: 'key' });
    luma.script('evt-hang', () => ({ kind: 'hang' }));
    const request = fetch(`${luma.url}/v1/event/get-guests?event_id=evt-hang`).catch((err: unknown) => err);
    await luma.waitForRequest((r) => r.eventId === 'evt-hang');
    await luma.stop();
    assert.ok((await request) instanceof Error, 'the hung request was cut');
  });

  it('the cuttable link cuts while a connection through it is open', HANG, async () => {
    // An upstream that accepts and never answers: the relayed connection stays open.
    const upstream = createNetServer(() => {});
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const link = await startCuttableLink({ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port });
    const client = connect(link.port, '127.0.0.1');
    const clientClosed = new Promise((resolve) => client.on('close', resolve).on('error', () => {}));
    await waitFor(() => link.connections() === 1, 10_000, 'the link to accept');
    await link.cut();
    await clientClosed;
    upstream.close();
  });

  it('the watched SQS relay closes while a long poll and another connection through it are open', HANG, async () => {
    const queue = await createFifoQueue(createTestSqs(), { label: 'teardown' });
    const watched = await createWatchedSqs();
    const poll = watched.sqs
      .send(new ReceiveMessageCommand({ QueueUrl: queue.url, WaitTimeSeconds: 20 }))
      .catch((err: unknown) => err);
    await waitFor(() => watched.receivesForwarded() === 1, 10_000, 'the long poll to reach the server');
    // A connection the watched client does not own (its destroy() ends only its own).
    const endpoint = await watched.sqs.config.endpoint!();
    const other = connect(Number(endpoint.port), endpoint.hostname);
    const otherClosed = new Promise((resolve) => other.on('close', resolve).on('error', () => {}));
    await new Promise((resolve) => other.once('connect', resolve));
    await watched.close();
    assert.ok((await poll) instanceof Error, 'the long poll was cut, not answered');
    await otherClosed;
  });
});
