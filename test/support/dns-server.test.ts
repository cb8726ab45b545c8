import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { after, describe, test } from 'node:test';
import { startDnsServer } from './dns-server.ts';

/**
 * The DNS server the PgBouncer measurement moves a name with
 * (test/measure/pgbouncer-dns.measure.ts, run by hand): checked here with Node's own
 * resolver (c-ares too) on a port of the OS's choosing, so a broken answer shows in
 * `npm test` rather than as a puzzling figure.
 */
describe('the test DNS server', () => {
  test('answers A with the address and TTL set, AAAA with no record, SOA with a serial only nextSerial() moves, and NXDOMAIN for other names', async () => {
    const dns = await startDnsServer('switchover.test');
    after(() => dns.stop());
    const resolver = new Resolver({ tries: 1, timeout: 2_000 });
    resolver.setServers([`${dns.host}:${dns.port}`]);
    dns.pointAt('writer.switchover.test', '127.0.0.2', 7);
    assert.deepEqual(await resolver.resolve4('writer.switchover.test', { ttl: true }), [
      { address: '127.0.0.2', ttl: 7 },
    ]);
    await assert.rejects(resolver.resolve6('writer.switchover.test'), { code: 'ENODATA' });
    await assert.rejects(resolver.resolve4('other.switchover.test'), { code: 'ENOTFOUND' });
    const serial = (await resolver.resolveSoa('switchover.test')).serial;

    dns.pointAt('writer.switchover.test', '127.0.0.3', 1);
    assert.deepEqual(await resolver.resolve4('writer.switchover.test'), ['127.0.0.3']);
    assert.equal((await resolver.resolveSoa('switchover.test')).serial, serial, 'a record change keeps the serial');
    dns.nextSerial();
    assert.equal((await resolver.resolveSoa('switchover.test')).serial, serial + 1);

    // Names of the zone only: a host's resolv.conf search domains may add other questions.
    assert.deepEqual(
      dns.questions.filter((q) => q.name.endsWith('switchover.test')).map((q) => `${q.type} ${q.name}`),
      [
        'A writer.switchover.test',
        'AAAA writer.switchover.test',
        'A other.switchover.test',
        'SOA switchover.test',
        'A writer.switchover.test',
        'SOA switchover.test',
        'SOA switchover.test',
      ],
    );
  });
});
