/**
 * The guard of a transaction's connection (src/db/closed-transaction-guard.ts) on its own,
 * with a stand-in for the driver's transaction connection, so that every ordering of a
 * close, sql.begin's rejection and the body's statements is forced, not hoped for. The
 * real driver under the same orderings: transaction-connection-loss.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TransactionSql } from 'postgres';
import type { Sql } from '../../src/db/client.ts';
import { ClosedTransactionGuard, TransactionConnectionClosedError } from '../../src/db/closed-transaction-guard.ts';
import { watchPoolCloses } from '../../src/db/pool-closes.ts';

/** A stand-in for the driver's query: awaited, or read with `.values()`. */
function driverQuery(rows: unknown[]) {
  const query = {
    mode: 'objects',
    // biome-ignore lint/suspicious/noThenProperty: stands for the driver's thenable query
    then: (resolve: (value: unknown) => unknown, reject: (err: unknown) => unknown) =>
      Promise.resolve(query.mode === 'values' ? rows.map((row) => Object.values(row as object)) : rows).then(
        resolve,
        reject,
      ),
    values: () => {
      query.mode = 'values';
      return query;
    },
  };
  return query;
}

/** A pool whose closes the test makes, and a transaction connection that records what it is sent. */
function scene() {
  const pool = {} as Sql;
  const close = watchPoolCloses(pool);
  const sent: string[] = [];
  const queries: unknown[] = [];
  const driver = {
    unsafe: (text: string) => {
      sent.push(text);
      const query = driverQuery([{ n: sent.length }]);
      queries.push(query);
      return query;
    },
    options: { prepare: true },
  } as unknown as TransactionSql;
  const guard = new ClosedTransactionGuard(pool);
  return { close, sent, queries, guard, connection: guard.connection(driver) };
}

/** Whether `promise` settles within a few turns of the event loop. */
async function settlesSoon(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('a transaction connection, guarded', () => {
  it('with no close: each statement goes to the driver at once, as the driver’s own query', () => {
    const { sent, queries, connection } = scene();
    const query = connection.unsafe('SELECT 1');
    assert.deepEqual(sent, ['SELECT 1']);
    assert.equal(query, queries[0], 'not wrapped: the driver pipelines it as usual');
  });

  it('hands over the other properties of the connection as they are', () => {
    const { connection } = scene();
    assert.deepEqual((connection as unknown as { options: unknown }).options, { prepare: true });
  });

  it('in the turn of another connection’s close: a statement waits for the turn to end, then is sent and answered', async () => {
    const { close, sent, connection } = scene();
    close();
    const awaited = connection.unsafe('SELECT awaited');
    const read = connection.unsafe('SELECT read').values();
    assert.deepEqual(sent, [], 'nothing sent in the turn of the close');
    assert.deepEqual(await awaited, [{ n: 1 }]);
    assert.deepEqual(await read, [[2]]);
    assert.deepEqual(sent, ['SELECT awaited', 'SELECT read']);
  });

  it('in the turn of its own connection’s close: a statement is never sent, and fails as a lost connection', async () => {
    const { close, sent, guard, connection } = scene();
    close();
    const awaited = Promise.resolve(connection.unsafe('SELECT awaited')).catch((err: unknown) => err);
    const read = Promise.resolve(connection.unsafe('SELECT read').values()).catch((err: unknown) => err);
    // sql.begin's rejection comes in the same turn, after the statements were asked for.
    queueMicrotask(() => guard.beginSettled());
    for (const err of [await awaited, await read]) {
      assert.ok(err instanceof TransactionConnectionClosedError, String(err));
      assert.equal(err.name, 'TransactionConnectionClosedError');
      assert.equal(err.code, 'CONNECTION_CLOSED');
      assert.match(err.message, /not sent: the connection of its transaction closed/);
    }
    assert.deepEqual(sent, []);
  });

  it('once sql.begin has rejected: a statement fails at once, unsent', async () => {
    const { sent, guard, connection } = scene();
    guard.beginSettled();
    await assert.rejects(Promise.resolve(connection.unsafe('SELECT 1')), TransactionConnectionClosedError);
    assert.deepEqual(sent, []);
  });

  it('a statement asked for after the close’s turn ended: sent at once', async () => {
    const { close, sent, queries, connection } = scene();
    close();
    await nextTurn();
    const query = connection.unsafe('SELECT later');
    assert.deepEqual(sent, ['SELECT later']);
    assert.equal(query, queries[0]);
  });
});

describe("a transaction's body, guarded", () => {
  it('with no close: its value and its error are handed on', async () => {
    const { guard } = scene();
    assert.equal(await guard.body(Promise.resolve('value')), 'value');
    const failure = new Error('the body failed');
    await assert.rejects(guard.body(Promise.reject(failure)), (err) => err === failure);
  });

  it('ended in the turn of another connection’s close: handed on once the turn is over', async () => {
    const { close, guard } = scene();
    close();
    assert.equal(await guard.body(Promise.resolve('value')), 'value');
  });

  for (const ending of ['resolved', 'rejected'] as const) {
    it(`${ending} in the turn of its own connection’s close: never handed on (no COMMIT, no ROLLBACK)`, async () => {
      const { close, guard } = scene();
      close();
      const outcome = ending === 'resolved' ? Promise.resolve('value') : Promise.reject(new Error('failed'));
      const handed = guard.body(outcome);
      queueMicrotask(() => guard.beginSettled());
      assert.equal(await settlesSoon(handed), false);
    });
  }

  it('ended after sql.begin rejected: never handed on', async () => {
    const { guard } = scene();
    guard.beginSettled();
    assert.equal(await settlesSoon(guard.body(Promise.resolve('value'))), false);
  });
});
