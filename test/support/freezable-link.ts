/**
 * A TCP relay that can go silent: what a network partition, or a database host that died
 * without a reset (a cloud failover whose old address stops answering), looks like from
 * the worker. While frozen it forwards nothing in either direction, neither bytes nor a
 * close, and keeps every socket open: nobody sends a FIN or an RST, so a client learns
 * nothing until its own timeouts (TCP's take minutes). A connection opened while frozen is
 * accepted and then never served, as an address that swallows everything. thaw() delivers
 * what was held, in order, and forwards again.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after } from 'node:test';
import { createDatabase, type Pooler } from '../../src/db/client.ts';
import { within } from './faults.ts';
import { viaPgBouncer } from './pgbouncer.ts';
import { connectUpstream } from './tcp-relay.ts';

export interface FreezableLink {
  host: string;
  port: number;
  /** Stops forwarding in both directions; every socket stays open. */
  freeze(): void;
  /** Delivers what was held while frozen, in order, and forwards again. */
  thaw(): void;
  /** Connections accepted so far. */
  connections(): number;
  /** Destroys every socket and stops listening: after the clients that use it have closed. */
  stop(): Promise<void>;
}

/** A relay to `target` on a loopback port of its own. */
export async function startFreezableLink(target: { host: string; port: number }): Promise<FreezableLink> {
  const sockets = new Set<Socket>();
  let frozen = false;
  let accepted = 0;
  /** What arrived while frozen, in arrival order: a chunk for `to`, or its end (null). */
  const held: Array<{ to: Socket; chunk: Buffer | null }> = [];
  const pass = (to: Socket, chunk: Buffer | null) => {
    if (frozen) held.push({ to, chunk });
    else if (chunk === null) to.end();
    else to.write(chunk);
  };
  const forward = (from: Socket, to: Socket) => {
    from.on('data', (chunk: Buffer) => pass(to, chunk));
    from.on('end', () => pass(to, null));
  };

  const server = createServer({ allowHalfOpen: true }, (client) => {
    accepted++;
    const upstream = connectUpstream(client, target, sockets);
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    host: '127.0.0.1',
    port,
    connections: () => accepted,
    freeze() {
      frozen = true;
    },
    thaw() {
      frozen = false;
      for (const { to, chunk } of held.splice(0)) pass(to, chunk);
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The two ways a worker reaches the database, each with the link in front of it: directly,
 * and through the PgBouncer `npm test` runs (transaction mode), frozen between the pool and
 * PgBouncer, which is what a worker sees when the pooler's host vanishes.
 */
export function frozenRoutes(database: { url: string; name: string }): Array<{
  name: string;
  url: string;
  pooler: Pooler;
}> {
  return [
    { name: 'PostgreSQL', url: database.url, pooler: 'none' },
    { name: 'PgBouncer (transaction mode)', url: viaPgBouncer(database.name), pooler: 'transaction' },
  ];
}

/**
 * A pool of `poolMax` connections to `databaseUrl` through a freezable link of its own.
 * Both are closed after the test file, the pool first: it waits for what the thawed link
 * delivers (a sync's late renewals and release).
 */
export async function poolThroughFreezableLink(databaseUrl: string, poolMax: number, pooler: Pooler = 'none') {
  const direct = new URL(databaseUrl);
  const link = await startFreezableLink({ host: direct.hostname, port: Number(direct.port) });
  const linked = new URL(databaseUrl);
  linked.hostname = link.host;
  linked.port = String(link.port);
  const handle = createDatabase({ url: linked.toString(), poolMax, pooler });
  after(async () => {
    await handle.close();
    await link.stop();
  });
  return { link, handle };
}

/**
 * Waits for a sync whose database went silent to end, and checks it ended as the worker
 * promises: DatabaseSilentError (kind database_silent) naming the stage it was in, within
 * `boundMs`: generous for a busy machine, and far below TCP's minutes, so a sync that
 * waits for TCP fails it. Prints how long after the freeze it ended.
 */
export async function endsSilent(
  what: string,
  sync: Promise<unknown>,
  expected: { stage: RegExp; frozenAt: () => number; boundMs: number },
): Promise<Error & { kind?: string }> {
  const err = await within(
    `the sync to end while its database is silent ${what} (it waits for TCP)`,
    sync.then(
      () => assert.fail('the sync completed through a frozen link'),
      (e: unknown) => e as Error & { kind?: string },
    ),
    expected.boundMs,
  );
  console.log(`# ${what}: ended ${Math.round(performance.now() - expected.frozenAt())} ms after the freeze`);
  assert.equal(err.kind, 'database_silent', String(err));
  assert.equal(err.name, 'DatabaseSilentError');
  assert.match(err.message, expected.stage);
  return err;
}
