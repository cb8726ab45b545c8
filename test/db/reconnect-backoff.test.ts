/**
 * After a network reset of every pooled connection (a failover, a NAT gateway or load
 * balancer dropping its flows), the next statements must run as soon as the database
 * answers again. postgres.js counts every connection that failed as one more failure of the
 * whole pool and makes each wait 0.5–1 × min(3^failures / 100, 20) s before it connects
 * again: with eight connections reset at once the last ones waited 10–20 s, and a statement
 * handed to one of them waited with it while the database was up and the pool's other
 * connections were free. src/db/reconnect-backoff.ts caps the wait.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createDatabase } from '../../src/db/client.ts';
import { MAX_RECONNECT_WAIT_SECONDS, reconnectBackoff } from '../../src/db/reconnect-backoff.ts';
import { startSoakNetwork } from '../soak/network.ts';
import { createTestDatabase } from '../support/db.ts';
import { databaseRoutes } from '../support/pgbouncer.ts';

const database = await createTestDatabase({ label: 'reconnect_backoff', migrate: false });
const CONNECTIONS = 8;

describe('reconnecting after a network reset', () => {
  for (const { route, url, pooler } of databaseRoutes(database)) {
    it(`${route}: runs every statement within seconds once the database answers, whichever connection it waits on`, async () => {
      const network = await startSoakNetwork([url()]);
      after(() => network.stop());
      const pool = createDatabase({ url: network.route(url()), poolMax: CONNECTIONS, pooler });
      after(() => pool.close());
      // Every connection of the pool open, then reset at once.
      await Promise.all(Array.from({ length: CONNECTIONS }, () => pool.sql`SELECT pg_sleep(0.05)`));
      const reset = await network.resetAll(0);
      assert.equal(reset.connections, CONNECTIONS);

      // The resets are in the kernel already: the event loop's next poll hands every one to
      // the driver, before this timer fires. A statement sent on a connection whose reset the
      // driver had not read would fail with it (and be run again by the worker's callers).
      await new Promise((resolve) => setTimeout(resolve, 20));
      const start = performance.now();
      const answered = await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          await pool.sql`SELECT pg_sleep(0.1)`;
          return (performance.now() - start) / 1000;
        }),
      );
      // Capped: at most 2 s of waiting, and a connection's start. Uncapped, the statements on
      // the connections reset last waited at least 10 s (0.5 × 20).
      const slowest = Math.max(...answered);
      assert.ok(slowest < 7, `the slowest statement took ${slowest.toFixed(1)} s after the reset`);
    });
  }
});

describe('reconnectBackoff', () => {
  it("follows the driver's curve for the first failures, and never waits past its cap", () => {
    for (let failures = 0; failures <= 40; failures++) {
      for (let draw = 0; draw < 50; draw++) {
        const wait = reconnectBackoff(failures);
        const curve = Math.min(3 ** failures / 100, MAX_RECONNECT_WAIT_SECONDS);
        assert.ok(wait >= 0.5 * curve && wait <= curve, `${failures} failures: ${wait} s, curve ${curve} s`);
      }
    }
    assert.equal(MAX_RECONNECT_WAIT_SECONDS, 2);
  });

  it('spreads the waits of connections that failed together (jitter)', () => {
    const waits = new Set(Array.from({ length: 20 }, () => reconnectBackoff(10)));
    assert.ok(waits.size > 1, 'every connection would reconnect at the same instant');
  });
});
