/**
 * `npm run measure:pgbouncer-dns`: how Debian's PgBouncer (1.18.0, c-ares 1.18.1)
 * follows a database host name that a switchover moves, measured with real parts:
 * a primary and its streaming replica (test/support/switchover.ts) reached on two
 * loopback addresses on the same port (127.0.0.2 and 127.0.0.3, relayed), a DNS server
 * that answers the name with either address (test/support/dns-server.ts), and PgBouncer
 * in transaction mode with `host=writer.switchover.test` and `resolv_conf` leading to
 * that server. Each measurement starts its own PgBouncer, so its DNS cache is empty.
 *
 * Run by hand, not by `npm test`: c-ares 1.18.1 ignores a port in resolv.conf (a
 * `nameserver 127.0.0.1:5353` line is asked on port 53; seen with strace), so the DNS
 * server must listen on UDP port 53 (of 127.53.0.1), which needs root or
 * CAP_NET_BIND_SERVICE. Without them it fails at once saying so.
 *
 * It prints one `figure` line per measurement and asserts only what does not depend on
 * the machine's speed (which address, whether it moved, generous bounds around the
 * settings). docs/operating.md ("Switchover") quotes the figures.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { createDatabase } from '../../src/db/client.ts';
import { type LocalPgBouncer, type PgBouncerSettings, startPgBouncer } from '../../src/local/pgbouncer.ts';
import { withDatabase } from '../support/db.ts';
import { startDnsServer } from '../support/dns-server.ts';
import { until, within } from '../support/faults.ts';
import { databaseReadiness, migrateWithScenario } from '../support/read-only-scenario.ts';
import { startRelaysOnOnePort } from '../support/relays-on-one-port.ts';
import { consumeAs } from '../support/role-settings.ts';
import { guestsOf } from '../support/seed.ts';
import { startSwitchoverPair } from '../support/switchover.ts';
import { useSimulatedLuma } from '../support/sync-harness.ts';

const ZONE = 'switchover.test';
const NAME = `writer.${ZONE}`;
/** The name server's address: any loopback address, port 53 (see above). */
const NAME_SERVER = '127.53.0.1';
const OLD = '127.0.0.2';
const NEW = '127.0.0.3';
/** The TTL the DNS server gives its A records, in seconds: shorter than any dns_max_ttl here. */
const RECORD_TTL = 1;

const luma = useSimulatedLuma();
const dns = await startDnsServer(ZONE, { host: NAME_SERVER, port: 53 });
after(() => dns.stop());
let scenario!: Awaited<ReturnType<typeof migrateWithScenario>>;
const pair = await startSwitchoverPair(async (url) => {
  scenario = await migrateWithScenario(url, luma);
});
after(() => pair.stop());
const relays = await startRelaysOnOnePort([
  { listen: OLD, target: pair.primary },
  { listen: NEW, target: pair.replica },
]);
after(() => relays.stop());
// Read by PgBouncer, which runs as an unprivileged user when this process is root.
const resolvDir = await mkdtemp(path.join(os.tmpdir(), 'lgs-resolv-'));
await chmod(resolvDir, 0o755);
const resolvConf = path.join(resolvDir, 'resolv.conf');
await writeFile(resolvConf, `nameserver ${NAME_SERVER}\n`, { mode: 0o644 });
after(() => rm(resolvDir, { recursive: true, force: true }));

/** The upstream as PgBouncer's `[databases]` entry gets it: the name, and the port both addresses share. */
const upstream = (() => {
  const url = new URL(pair.primary.url);
  url.hostname = NAME;
  url.port = String(relays.port);
  return url.toString();
})();

type Where = 'old' | 'new';
const figures: string[] = [];
after(() => {
  console.log(
    [
      `pgbouncer DNS measurements, ${new Date().toISOString()}, PgBouncer 1.18.0 (c-ares 1.18.1), record TTL ${RECORD_TTL} s`,
      ...figures,
    ].join('\n'),
  );
});
function figure(line: string) {
  figures.push(`figure: ${line}`);
  console.log(`figure: ${line}`);
}

async function startBouncer(settings: PgBouncerSettings): Promise<LocalPgBouncer> {
  const bouncer = await startPgBouncer(upstream, { resolvConf, ...settings });
  after(() => bouncer.stop());
  return bouncer;
}

/** Which server answered a statement on `sql`: the old primary (127.0.0.2) or the replica (127.0.0.3). */
async function where(sql: postgres.Sql): Promise<Where> {
  const [row] = await sql<{ port: number }[]>`SELECT inet_server_port() AS port`;
  if (row?.port === pair.primary.port) return 'old';
  if (row?.port === pair.replica.port) return 'new';
  throw new Error(`answered by an unknown server port ${row?.port}`);
}

/** A client pool of its own through `bouncer` to `database` (PgBouncer's pool for that name). */
function client(bouncer: LocalPgBouncer, database: string, max = 1) {
  const sql = postgres(withDatabase(bouncer.url, database), {
    max,
    prepare: false,
    fetch_types: false,
    onnotice: () => {},
  });
  after(() => sql.end({ timeout: 0 }));
  return sql;
}

/**
 * Where a server connection PgBouncer opens now goes: the probe's pool (database
 * template1, apart from the main pool's `postgres`) is emptied first with KILL, so its
 * statement needs a new server connection, which looks the name up once dns_max_ttl
 * has run out. The DNS cache is PgBouncer's, shared by every pool of that host name.
 */
async function newServerConnection(bouncer: LocalPgBouncer): Promise<Where> {
  try {
    await bouncer.admin('KILL template1');
    await bouncer.admin('RESUME template1');
  } catch (err) {
    // The first probe: the pool does not exist yet.
    if (!/no such database/i.test((err as Error).message)) throw err;
  }
  const probe = postgres(withDatabase(bouncer.url, 'template1'), {
    max: 1,
    prepare: false,
    fetch_types: false,
    onnotice: () => {},
  });
  try {
    return await where(probe);
  } finally {
    await probe.end({ timeout: 0 });
  }
}

/** Opens `n` server connections for the main pool (`postgres`): n statements at once; their backends' pids. */
async function openServerConnections(sql: postgres.Sql, n: number): Promise<Set<number>> {
  const rows = await Promise.all(
    Array.from({ length: n }, () => sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid, pg_sleep(0.2)`),
  );
  return new Set(rows.map(([row]) => row?.pid ?? 0));
}

/** The backend's pid that answers the next statement on `sql`. */
async function backendPid(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
  return row?.pid ?? 0;
}

/** The main pool's server connections by address (SHOW SERVERS). */
async function serversOf(bouncer: LocalPgBouncer, database = 'postgres'): Promise<Record<Where, number>> {
  const rows = await bouncer.admin('SHOW SERVERS');
  const count = { old: 0, new: 0 };
  for (const row of rows) {
    if (row.database !== database) continue;
    if (row.addr === OLD) count.old++;
    else if (row.addr === NEW) count.new++;
  }
  return count;
}

/** Lookups of the name (A or AAAA questions) since `since`. */
function lookupsSince(since: number): number {
  return dns.questions.filter((q) => q.name === NAME && q.type !== 'SOA' && q.at >= since).length;
}

/** Runs a statement on `sql` every `everyMs` until it reaches the new server; the seconds it took, or undefined at `limitMs`. */
async function secondsUntilNew(sql: postgres.Sql, since: number, limitMs: number, everyMs = 250) {
  while (Date.now() - since < limitMs) {
    if ((await where(sql)) === 'new') return (Date.now() - since) / 1000;
    await sleep(everyMs);
  }
  return undefined;
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

describe('PgBouncer 1.18 and a host name that moves', () => {
  for (const dnsMaxTtl of [15, 2]) {
    it(`with dns_max_ttl = ${dnsMaxTtl}: a new server connection reaches the new address dns_max_ttl after the last lookup; the record's TTL is ignored; RECONNECT before that returns to the old address`, async () => {
      dns.pointAt(NAME, OLD, RECORD_TTL);
      const bouncer = await startBouncer({ dnsMaxTtl });
      const main = client(bouncer, 'postgres', 3);
      const before = await openServerConnections(main, 3);
      assert.equal(await newServerConnection(bouncer), 'old');
      const lookedUp = Date.now();
      dns.pointAt(NAME, NEW, RECORD_TTL);
      const moved = Date.now();
      // What an operator can read on the admin console meanwhile.
      const [cached] = (await bouncer.admin('SHOW DNS_HOSTS')).filter((row) => row.hostname === NAME);

      // The switchover's usual advice: RECONNECT. Its new server connections use the cached lookup.
      await bouncer.admin('RECONNECT');
      const afterReconnect = await where(main);
      const reconnectedPid = await backendPid(main);
      assert.equal(afterReconnect, 'old', 'RECONNECT within dns_max_ttl of the lookup reconnects to the old address');
      assert.ok(!before.has(reconnectedPid), 'RECONNECT left an old server connection in use');

      let first: Where = 'old';
      let probes = 0;
      while (first === 'old' && Date.now() - moved < (dnsMaxTtl + 20) * 1000) {
        await sleep(250);
        first = await newServerConnection(bouncer);
        probes++;
      }
      const tookMs = Date.now() - moved;
      assert.equal(first, 'new', `no new server connection reached the new address within ${dnsMaxTtl + 20} s`);
      assert.ok(tookMs >= (dnsMaxTtl - 1) * 1000, `moved after ${seconds(tookMs)} s, before dns_max_ttl`);
      // The lookup that found the new address took the old one out: the main pool's
      // connections to it close, and its next statement opens one to the new address.
      const mainMovedMs = Date.now();
      const mainTook = await secondsUntilNew(main, mainMovedMs, 10_000);
      assert.ok(mainTook !== undefined, 'the main pool stayed on the old address after the lookup changed');
      figure(
        `dns_max_ttl=${dnsMaxTtl}: first new server connection on the new address ${seconds(tookMs)} s after the move ` +
          `(lookup ${seconds(moved - lookedUp)} s before the move; ${probes} new connections probed, ` +
          `${lookupsSince(moved)} DNS questions after the move); SHOW DNS_HOSTS right after the move: ${JSON.stringify(cached)}; ` +
          `RECONNECT right after the move: next statement on a new server connection to the ${afterReconnect} address; ` +
          `main pool's next statement on the new address ${mainTook.toFixed(1)} s after that lookup`,
      );
    });
  }

  it('without a new server connection, nothing is looked up: existing server connections stay on the old address past dns_max_ttl, and a busy pool outlives server_idle_timeout', async () => {
    dns.pointAt(NAME, OLD, RECORD_TTL);
    // server_check_delay = 0: `select 1` before every reuse, which a read-only server answers.
    const bouncer = await startBouncer({ dnsMaxTtl: 2, serverIdleTimeout: 3, serverCheckDelay: 0 });
    const main = client(bouncer, 'postgres', 3);
    await openServerConnections(main, 3);
    dns.pointAt(NAME, NEW, RECORD_TTL);
    const moved = Date.now();
    // A worker's steady traffic: one statement every 250 ms, for 6 x dns_max_ttl.
    const stayed = await secondsUntilNew(main, moved, 12_000);
    const lookups = lookupsSince(moved);
    const servers = await serversOf(bouncer);
    assert.equal(stayed, undefined, 'the main pool moved without a new server connection');
    assert.equal(lookups, 0, 'the name was looked up again without a new server connection');
    figure(
      `dns_max_ttl=2, server_idle_timeout=3, server_check_delay=0, one statement every 0.25 s: after 12 s still on the old address, ` +
        `${lookups} DNS questions; server connections ${servers.old} old, ${servers.new} new (the idle ones closed, the busy one kept)`,
    );

    // One new server connection, for any pool: the lookup runs, and the old address is gone from it.
    const probed = Date.now();
    assert.equal(await newServerConnection(bouncer), 'new');
    const took = await secondsUntilNew(main, probed, 10_000);
    assert.ok(took !== undefined, 'the main pool stayed on the old address after a lookup found the new one');
    figure(
      `then one new server connection (another pool): the main pool's next statement on the new address ${took.toFixed(1)} s later`,
    );
  });

  it('server_lifetime ends the old server connections: the pool moves about server_lifetime after they were opened', async () => {
    dns.pointAt(NAME, OLD, RECORD_TTL);
    const serverLifetime = 5;
    const bouncer = await startBouncer({ dnsMaxTtl: 2, serverLifetime });
    const main = client(bouncer, 'postgres', 3);
    const opened = Date.now();
    await openServerConnections(main, 3);
    dns.pointAt(NAME, NEW, RECORD_TTL);
    const moved = Date.now();
    const took = await secondsUntilNew(main, moved, (serverLifetime + 30) * 1000);
    assert.ok(took !== undefined, `still on the old address ${serverLifetime + 30} s after the move`);
    figure(
      `server_lifetime=${serverLifetime}, dns_max_ttl=2, one statement every 0.25 s: on the new address ${took.toFixed(1)} s after the move ` +
        `(connections opened ${seconds(moved - opened)} s before it)`,
    );
  });

  for (const serialChanges of [true, false]) {
    it(`dns_zone_check_period: ${serialChanges ? 'a changed' : 'an unchanged'} SOA serial of the name's zone ${serialChanges ? 'makes PgBouncer look the name up again without a new connection' : 'moves nothing'}`, async () => {
      dns.pointAt(NAME, OLD, RECORD_TTL);
      const period = 2;
      const started = Date.now();
      const bouncer = await startBouncer({ dnsZoneCheckPeriod: period });
      const main = client(bouncer, 'postgres', 3);
      await openServerConnections(main, 3);
      // Its first check learns the serial (any serial is new to it): the move comes after.
      await until(
        'the first SOA question',
        () => dns.questions.some((q) => q.type === 'SOA' && q.at >= started),
        30_000,
      );
      await sleep(500);
      const moved = Date.now();
      dns.pointAt(NAME, NEW, RECORD_TTL);
      if (serialChanges) dns.nextSerial();
      const limitMs = 12_000;
      const took = await secondsUntilNew(main, moved, limitMs);
      const soaQuestions = dns.questions.filter((q) => q.type === 'SOA' && q.at >= moved).length;
      if (serialChanges)
        assert.ok(took !== undefined, `the zone check did not move the pool within ${limitMs / 1000} s`);
      else assert.equal(took, undefined, 'the pool moved without a serial change or a new server connection');
      figure(
        `dns_zone_check_period=${period}, dns_max_ttl=15, serial ${serialChanges ? 'incremented with' : 'unchanged by'} the move: ` +
          (took === undefined
            ? `main pool still on the old address ${limitMs / 1000} s after the move`
            : `main pool on the new address ${took.toFixed(1)} s after the move`) +
          ` (${soaQuestions} SOA questions meanwhile)`,
      );
    });
  }

  it('the worker behind it during a real switchover: each sync fails as read_only, retryable, until PgBouncer renews its server connections; then the next attempt resumes and completes', async () => {
    dns.pointAt(NAME, OLD, RECORD_TTL);
    const bouncer = await startBouncer({});
    const url = withDatabase(bouncer.url, new URL(pair.primary.url).pathname.slice(1));
    // As the daemon wires it (src/daemon.ts): what the worker does on a read-only answer.
    const rounds: Array<{ pooler?: string; ended: number }> = [];
    const worker = createDatabase({
      url,
      poolMax: 3,
      pooler: 'transaction',
      onReadOnlyRound: (round) => rounds.push({ pooler: round.pooler, ended: round.ended }),
    });
    after(() => worker.close());
    const readiness = databaseReadiness(worker.sql);
    const ready = async () => ((await within('readiness', readiness())).ready ? 'ready' : 'unready');
    let switchedAt = 0;
    luma.serve({
      events: { [scenario.message.externalEventId]: scenario.list },
      fault: async (_request, pageNo) => {
        // Page 2's statements are the first writes after the switchover; page 1 is checkpointed.
        if (pageNo !== 2 || switchedAt) return undefined;
        await pair.switchover();
        dns.pointAt(NAME, NEW, RECORD_TTL);
        switchedAt = Date.now();
        return undefined;
      },
    });

    const attempts: string[] = [];
    const first = await within('the sync that meets the switchover', consumeAs(worker, url, scenario.message), 60_000);
    assert.ok(switchedAt, 'the switchover ran');
    assert.deepEqual(
      first.failures.map((f) => [f.kind, f.permanent, f.acknowledged]),
      [['read_only', false, false]],
    );
    const released = !first.lines.some(
      (l) => l.msg === 'could not release the claim: it frees itself when its lease ends',
    );
    attempts.push(`0.0 s read_only (claim ${released ? 'released' : 'not released'}; readiness ${await ready()})`);

    // Redeliveries, faster than the queue's 120 s so that the figure shows when PgBouncer moves.
    const everyMs = 5_000;
    const reconnectAfterMs = 30_000;
    let reconnectedAt = 0;
    let completed: Awaited<ReturnType<typeof consumeAs>> | undefined;
    while (!completed && Date.now() - switchedAt < 170_000) {
      await sleep(everyMs);
      if (!reconnectedAt && Date.now() - switchedAt >= reconnectAfterMs) {
        // What an operator runs after the switchover: past dns_max_ttl (15 s), so the new
        // server connections look the name up again.
        await bouncer.admin('RECONNECT');
        reconnectedAt = Date.now();
        attempts.push(
          `${seconds(reconnectedAt - switchedAt)} s RECONNECT on the admin console (readiness then ${await ready()})`,
        );
      }
      const attempt = await within('a redelivery', consumeAs(worker, url, scenario.message), 60_000);
      const at = seconds(Date.now() - switchedAt);
      if (attempt.acknowledged) {
        completed = attempt;
        attempts.push(`${at} s completed`);
      } else {
        const kinds = attempt.failures.map((f) => f.kind).join(',') || 'not acknowledged';
        // pino's levels: 40 is warn.
        const warnings = [...new Set(attempt.lines.filter((l) => l.level >= 40).map((l) => l.msg))].join(' | ');
        attempts.push(`${at} s ${kinds}${warnings ? ` (${warnings})` : ''}`);
      }
    }
    figure(
      `worker (DATABASE_POOLER=transaction, pool 3) through PgBouncer with dns_max_ttl=15, server_lifetime=3600: ` +
        `read-only rounds ${rounds.length}, each ${JSON.stringify(rounds[0])}; attempts after the switchover: ${attempts.join('; ')}`,
    );
    assert.ok(completed, `never completed: ${attempts.join('; ')}`);
    assert.ok(reconnectedAt, 'completed before RECONNECT');
    assert.ok(rounds.length > 0 && rounds.every((r) => r.pooler === 'transaction' && r.ended === 0));
    assert.equal(completed.lines.find((l) => l.msg === 'sync complete')?.resumedAtPage, 2, 'resumed at page 2');
    const rows = await guestsOf(worker.db, scenario.event.uid);
    assert.deepEqual(rows.map((r) => r.memberUid).sort(), scenario.members.map((m) => m.uid).sort());
    assert.deepEqual(await serversOf(bouncer, new URL(url).pathname.slice(1)).then((s) => s.old), 0);
  });
});
