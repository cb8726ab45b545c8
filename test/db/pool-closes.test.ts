/**
 * The registry of a pool's closes (src/db/pool-closes.ts) on its own: a listener is told
 * of every close until it unsubscribes, and never after; a pool that createDatabase did
 * not make tells nothing and throws nothing. Its use: reserve-connection.ts,
 * read-only-sessions.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sql } from '../../src/db/client.ts';
import { onPoolClose, watchPoolCloses } from '../../src/db/pool-closes.ts';

/** Any object stands for the pool: the registry only keys on it. */
const pool = () => ({}) as unknown as Sql;

describe("a pool's closes", () => {
  it('are told to each listener until it unsubscribes, and not after', () => {
    const sql = pool();
    const closed = watchPoolCloses(sql);
    const told: string[] = [];
    const stopA = onPoolClose(sql, () => told.push('a'));
    onPoolClose(sql, () => told.push('b'));
    closed();
    stopA();
    closed();
    assert.deepEqual(told, ['a', 'b', 'b']);
  });

  it('may be unsubscribed from inside the listener, which is told once', () => {
    const sql = pool();
    const closed = watchPoolCloses(sql);
    let told = 0;
    const stop = onPoolClose(sql, () => {
      told++;
      stop();
    });
    closed();
    closed();
    assert.equal(told, 1);
  });

  it('of a pool nobody watches: nothing is told, nothing throws', () => {
    const stop = onPoolClose(pool(), () => assert.fail('told'));
    stop();
  });
});
