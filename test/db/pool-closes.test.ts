/**
 * The registry of a pool's closes (src/db/pool-closes.ts) on its own: a listener is told
 * of every close until it unsubscribes, and never after; a pool that createDatabase did
 * not make tells nothing and throws nothing; the turn of a close is known until it ends.
 * Its use: reserve-connection.ts, read-only-sessions.ts, closed-transaction-guard.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sql } from '../../src/db/client.ts';
import { closeTurn, onPoolClose, watchPoolCloses } from '../../src/db/pool-closes.ts';

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

  it('mark their turn of the event loop, already while the listeners are told, until it ends', async () => {
    const sql = pool();
    const closed = watchPoolCloses(sql);
    assert.equal(closeTurn(sql), undefined, 'no close yet');
    let seenByListener: Promise<void> | undefined;
    onPoolClose(sql, () => {
      seenByListener = closeTurn(sql);
    });
    closed();
    const turn = closeTurn(sql);
    assert.ok(turn instanceof Promise);
    assert.equal(seenByListener, turn, 'the listeners see the turn begun');
    closed();
    assert.equal(closeTurn(sql), turn, 'a second close in the same turn shares it');
    // Not over while this turn's reactions run.
    await Promise.resolve();
    assert.equal(closeTurn(sql), turn);
    await turn;
    assert.equal(closeTurn(sql), undefined, 'over after the turn');
    closed();
    assert.notEqual(closeTurn(sql), turn, 'a later close begins a turn of its own');
    await closeTurn(sql);
  });

  it('of a pool nobody watches: no turn', () => {
    assert.equal(closeTurn(pool()), undefined);
  });
});
