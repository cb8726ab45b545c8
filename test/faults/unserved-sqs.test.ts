import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { runCliProcess } from '../support/cli-process.ts';
import { createTestDatabase } from '../support/db.ts';

/**
 * Issue 21 §4 for the other dependency of a one-shot command: an SQS endpoint that
 * accepts the connection and never answers. `enqueue` exits 1 with one line naming the
 * variables to check instead of waiting forever (the AWS SDK sets no timeout of its own).
 * The long-poll wait is shrunk to 0 s, so a request is given 10 s (wait + 10 s) per try.
 */
const database = await createTestDatabase({ label: 'unserved_sqs' });

async function silentListener() {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => sockets.add(socket.on('error', () => {})));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

describe('an SQS endpoint that accepts and never answers', () => {
  it('enqueue exits 1 in bounded time, naming what to check', async () => {
    const port = await silentListener();
    const run = await runCliProcess(
      ['enqueue', '--tiers'],
      {
        LOG_LEVEL: 'warn',
        LUMA_API_KEY: 'test-key',
        DATABASE_URL: database.url,
        AWS_ENDPOINT_URL_SQS: `http://127.0.0.1:${port}`,
        PL_EVENT_GUEST_SYNC_QUEUE_NAME: 'unserved',
        PL_EVENT_GUEST_SYNC_WAIT_TIME_SECONDS: '0',
      },
      { timeoutMs: 120_000 },
    );
    assert.equal(run.code, 1, run.stderr);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /SQS/);
    assert.match(lines[0]!, /AWS_ENDPOINT_URL_SQS/);
  });
});
