/**
 * Which failures repeatOnConnectionLoss (src/db/repeat-on-connection-loss.ts) repeats, and
 * how often; its last case against a real pool. Against real connections:
 * test/sync/lost-connection-followups.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDatabase } from '../../src/db/client.ts';
import { repeatOnConnectionLoss } from '../../src/db/repeat-on-connection-loss.ts';
import { isConnectionLoss } from '../../src/errors.ts';
import { startSoakNetwork } from '../soak/network.ts';
import { createTestDatabase } from '../support/db.ts';
import { databaseRoutes } from '../support/pgbouncer.ts';

/** A failure as postgres.js gives it, wrapped as Drizzle wraps it. */
function failure(fields: Record<string, unknown>, message = 'failed'): Error {
  const driver = Object.assign(new Error(message), fields);
  return new Error('Failed query: UPDATE …', { cause: driver });
}

/** Runs a statement that fails with `errors` in turn, then answers 'done'; counts the runs. */
async function attempt(errors: Error[], repeats?: number) {
  let runs = 0;
  const outcome = await repeatOnConnectionLoss(async () => {
    const err = errors[runs++];
    if (err) throw err;
    return 'done';
  }, repeats).catch((err: unknown) => err);
  return { outcome, runs };
}

const terminated = () =>
  failure(
    { name: 'PostgresError', severity: 'FATAL', code: '57P01' },
    'terminating connection due to administrator command',
  );
const closed = () => failure({ code: 'CONNECTION_CLOSED' }, 'write CONNECTION_CLOSED 127.0.0.1:5432');
/** PgBouncer sends no non-localised severity: postgres.js has only severity_local. */
const bouncerCrashed = () =>
  failure({ name: 'PostgresError', severity_local: 'FATAL', code: '08P01' }, 'server conn crashed?');

describe('repeatOnConnectionLoss', () => {
  it('answers with the first run that succeeds, up to two repeats after a lost connection', async () => {
    assert.deepEqual(await attempt([]), { outcome: 'done', runs: 1 });
    assert.deepEqual(await attempt([closed(), terminated()]), { outcome: 'done', runs: 3 });
    assert.deepEqual(await attempt([bouncerCrashed()]), { outcome: 'done', runs: 2 });
    const third = closed();
    assert.deepEqual(await attempt([closed(), terminated(), third]), { outcome: third, runs: 3 });
    const second = terminated();
    assert.deepEqual(await attempt([closed(), second], 1), { outcome: second, runs: 2 });
  });

  it('never repeats an error of the statement, nor a pool being closed or a connect timeout', async () => {
    const errors = [
      failure({ name: 'PostgresError', severity: 'ERROR', code: '23505' }, 'duplicate key'),
      failure({ name: 'PostgresError', severity: 'ERROR', code: '57014' }, 'canceling statement due to user request'),
      failure({ code: 'CONNECTION_ENDED' }),
      failure({ code: 'CONNECTION_DESTROYED' }),
      failure({ code: 'CONNECT_TIMEOUT' }),
      new Error('not a database error'),
    ];
    for (const err of errors) assert.deepEqual(await attempt([err]), { outcome: err, runs: 1 }, err.message);
  });

  it('looks for the loss through four wrappers at most, and ends on a cause that loops', async () => {
    const wrapped = (times: number) => {
      let err: Error = Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' });
      for (let i = 0; i < times; i++) err = new Error(`wrapper ${i + 1}`, { cause: err });
      return err;
    };
    assert.deepEqual(await attempt([wrapped(4)]), { outcome: 'done', runs: 2 });
    const tooDeep = wrapped(5);
    assert.deepEqual(await attempt([tooDeep]), { outcome: tooDeep, runs: 1 });
    const looping = new Error('a cause that is itself');
    looping.cause = looping;
    assert.deepEqual(await attempt([looping]), { outcome: looping, runs: 1 });
  });

  it('repeats a connection reset under the statement, never one that could not be opened', async () => {
    const reset = failure({ code: 'ECONNRESET', syscall: 'read' });
    assert.deepEqual(await attempt([reset]), { outcome: 'done', runs: 2 });
    const broken = failure({ code: 'EPIPE', syscall: 'write' });
    assert.deepEqual(await attempt([broken]), { outcome: 'done', runs: 2 });
    const refused = failure({ code: 'ECONNREFUSED', syscall: 'connect' });
    assert.deepEqual(await attempt([refused]), { outcome: refused, runs: 1 });
    const unknownHost = failure({ code: 'ENOTFOUND', syscall: 'getaddrinfo' });
    assert.deepEqual(await attempt([unknownHost]), { outcome: unknownHost, runs: 1 });
    // A repeat that meets a refusal (the database went away meanwhile) is the last.
    assert.deepEqual(await attempt([terminated(), refused]), { outcome: refused, runs: 2 });
  });
});

describe('isConnectionLoss', () => {
  it("counts PgBouncer's FATAL, which carries only the localised severity, and not its ERROR", () => {
    assert.equal(isConnectionLoss(bouncerCrashed().cause), true);
    assert.equal(isConnectionLoss({ severity_local: 'ERROR', code: '08P01' }), false);
    assert.equal(isConnectionLoss({ severity: 'PANIC' }), true);
    // The non-localised severity wins where PostgreSQL sends both (lc_messages may translate the other).
    assert.equal(isConnectionLoss({ severity: 'ERROR', severity_local: 'FATAL' }), false);
  });
});

const database = await createTestDatabase({ label: 'repeat_after_reset', migrate: false });

describe('repeatOnConnectionLoss after a reset of the whole pool', () => {
  // Through PgBouncer the reset cuts the worker's connections to the pooler, not the
  // pooler's to the database: the same driver code learns of it the same way.
  for (const { route, url, pooler } of databaseRoutes(database)) {
    it(`${route}: repeats on a connection that is still alive, not on the next one already reset`, async () => {
      // The claim's release, sent as a network reset (a failover, a NAT gateway dropping its
      // flows) ends every connection of the pool at once. The driver learns of each reset
      // socket by socket; a repeat sent before it read the others' went to the next reset
      // connection, and both repeats were spent in a millisecond: the release failed, and the
      // claim stayed held to the end of its lease.
      const network = await startSoakNetwork([url()]);
      const pool = createDatabase({ url: network.route(url()), poolMax: 3, pooler });
      try {
        await Promise.all(Array.from({ length: 3 }, () => pool.sql`SELECT pg_sleep(0.05)`));
        const reset = await network.resetAll(0);
        assert.equal(reset.connections, 3, 'every connection of the pool was open, and reset');

        let runs = 0;
        const answer = await repeatOnConnectionLoss(async () => {
          runs++;
          const [row] = await pool.sql<{ one: number }[]>`SELECT 1 AS one`;
          return row?.one;
        });
        assert.equal(answer, 1);
        assert.equal(runs, 2, 'one run on the reset connection, one repeat on a new one');
      } finally {
        // Before the file's database is dropped, which waits for its sessions.
        await pool.close();
        await network.stop();
      }
    });
  }
});
