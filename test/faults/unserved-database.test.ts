import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { runCliProcess } from '../support/cli-process.ts';
import { startWorkerProcess } from '../support/worker-process.ts';

/**
 * Issue 21 §4: a command never hangs on a database endpoint that takes the TCP connection
 * and never serves it — closing it at once (a proxy or load balancer with no backend, a
 * wrong port) or holding it silently. The connect timeout is shrunk to 1 s in the URL.
 */
async function listener(mode: 'close' | 'reset' | 'silent') {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    if (mode === 'close') socket.end();
    else if (mode === 'reset') socket.resetAndDestroy();
    else sockets.add(socket.on('error', () => {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    accepted: () => accepted,
    url: `postgres://lgs:${SECRET}@127.0.0.1:${port}/directory?connect_timeout=1`,
  };
}

const SECRET = 'pw-never-printed-4c1';
const EXPECTED = {
  close: /within 1 s: it accepts connections and closes them before PostgreSQL's start-up/,
  reset: /it accepted the connection and reset it before PostgreSQL's start-up/,
  silent: /within 1 s: it accepted the connection and never answered/,
};
const base = { LUMA_API_KEY: 'test-key', LOG_LEVEL: 'warn' };
const COMMANDS = [['status'], ['sync', '--event', 'evt-1', '--dry-run'], ['enqueue', '--dry-run'], ['db:migrate']];

describe('a database endpoint that accepts and never serves', () => {
  for (const mode of ['close', 'reset', 'silent'] as const) {
    it(`every one-shot command exits 1 with one line naming DATABASE_URL (endpoint: ${mode})`, async () => {
      const endpoint = await listener(mode);
      for (const args of COMMANDS) {
        // Killed at 30 s: a hang shows as code null, not as a stuck test run.
        const run = await runCliProcess(args, { ...base, DATABASE_URL: endpoint.url }, { timeoutMs: 30_000 });
        assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
        const lines = run.stderr.trim().split('\n');
        assert.equal(lines.length, 1, run.stderr);
        assert.match(lines[0]!, new RegExp(`cannot reach the database at 127\\.0\\.0\\.1:${endpoint.port}`));
        assert.match(lines[0]!, EXPECTED[mode]);
        assert.match(lines[0]!, /DATABASE_URL/);
        assert.doesNotMatch(run.stderr + run.stdout, new RegExp(SECRET));
      }
      assert.ok(endpoint.accepted() > 0);
    });
  }

  it('the daemon logs the unreachable database within the connect timeout, and keeps waiting', async () => {
    const endpoint = await listener('close');
    const worker = await startWorkerProcess({ ...base, LOG_LEVEL: 'info', DATABASE_URL: endpoint.url });
    const line = await worker.waitForLog((l) => l.msg === 'waiting for a dependency', 15_000);
    assert.equal(line.what, 'directory schema');
    assert.match(String(line.reason), EXPECTED.close);
    assert.equal(worker.child.exitCode, null, 'still running, waiting for the database');
    assert.doesNotMatch(worker.rawLines.join('\n') + worker.stderr(), new RegExp(SECRET));
  });
});
