import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDatabase } from '../src/db/client.ts';
import {
  asDatabaseFailure,
  DatabaseSocketError,
  errorKind,
  isConnectionLoss,
  isContention,
  PermanentError,
  SyncDeferredError,
} from '../src/errors.ts';
import { testEnv } from './support/env.ts';

describe('errorKind', () => {
  it('labels permanent errors, provider errors, database errors and the rest', async () => {
    assert.equal(errorKind(new PermanentError('bad_message', 'x')), 'bad_message');
    assert.equal(errorKind(Object.assign(new Error('x'), { kind: 'luma_timeout' })), 'luma_timeout');
    assert.equal(errorKind(new Error('x')), 'unexpected');
    assert.equal(errorKind('a string'), 'unexpected');
    assert.equal(errorKind(undefined), 'unexpected');
    assert.equal(errorKind(null), 'unexpected');
    assert.equal(errorKind(Object.assign(new Error('x'), { kind: 42 })), 'unexpected', 'a kind that is not a label');

    const database = createDatabase({ url: testEnv('adminDatabaseUrl'), poolMax: 1 });
    try {
      const failed = await database.db.execute('SELECT * FROM "no_such_table"').catch((err: unknown) => err);
      assert.equal(errorKind(failed), 'database');
      const raw = await database.sql`SELECT 1/0`.catch((err: unknown) => err);
      assert.equal(errorKind(raw), 'database');
      // Wrapped by a caller that says what it was doing (the shared Luma budget does): still
      // the database, as is postgres.js's connection error (a restart behind PgBouncer).
      const wrapped = new Error('The shared Luma request budget is unavailable', { cause: raw });
      assert.equal(errorKind(wrapped), 'database');
      const closed = Object.assign(new Error('write CONNECTION_CLOSED 127.0.0.1:5432'), { code: 'CONNECTION_CLOSED' });
      assert.equal(
        errorKind(new Error('The shared Luma request budget is unavailable', { cause: closed })),
        'database',
      );
      assert.equal(errorKind(new Error('outer', { cause: new Error('inner') })), 'unexpected');
    } finally {
      await database.close();
    }
  });
});

/** Node's own error of a socket, as postgres.js passes it on. */
function socketError(syscall: string, code: string) {
  return Object.assign(new Error(`${syscall} ${code}`), { errno: -104, code, syscall });
}

describe('a socket error of a statement sent without Drizzle', () => {
  it('is a database failure once wrapped, and from an unknown source stays unexpected', () => {
    const reset = socketError('read', 'ECONNRESET');
    assert.equal(errorKind(reset), 'unexpected', 'a bare socket error may come from anywhere');
    const wrapped = new DatabaseSocketError(reset);
    assert.equal(errorKind(wrapped), 'database');
    assert.equal(errorKind(new Error('page statement not answered', { cause: wrapped })), 'database');
    assert.equal(wrapped.message, 'database connection failed: read ECONNRESET');
    assert.equal(wrapped.cause, reset);
  });

  it('is named so by asDatabaseFailure, which passes every other error on as it is', () => {
    const reset = socketError('write', 'EPIPE');
    const named = asDatabaseFailure(reset);
    assert.ok(named instanceof DatabaseSocketError);
    assert.equal(named.cause, reset);
    const statement = Object.assign(new Error('division by zero'), { severity: 'ERROR', code: '22012' });
    assert.equal(asDatabaseFailure(statement), statement);
    const closed = Object.assign(new Error('CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' });
    assert.equal(asDatabaseFailure(closed), closed);
    assert.equal(asDatabaseFailure('text'), 'text');
  });

  it('is still the connection loss it was, with its code and system call', () => {
    const wrapped = new DatabaseSocketError(socketError('connect', 'ECONNREFUSED'));
    assert.equal(isConnectionLoss(wrapped), true);
    assert.equal(wrapped.code, 'ECONNREFUSED');
    assert.equal(wrapped.syscall, 'connect');
  });
});

describe('isConnectionLoss', () => {
  it("tells a connection that is gone from one statement's error", () => {
    assert.equal(isConnectionLoss(socketError('write', 'EPIPE')), true);
    for (const code of ['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT']) {
      assert.equal(isConnectionLoss(Object.assign(new Error(code), { code })), true, code);
    }
    assert.equal(isConnectionLoss(Object.assign(new Error('terminated'), { severity: 'FATAL', code: '57P01' })), true);
    assert.equal(isConnectionLoss(Object.assign(new Error('panic'), { severity: 'PANIC' })), true);
    // PgBouncer's own errors carry only the localised severity.
    assert.equal(isConnectionLoss(Object.assign(new Error('server conn crashed?'), { severity_local: 'FATAL' })), true);
    assert.equal(
      isConnectionLoss(Object.assign(new Error('division by zero'), { severity: 'ERROR', code: '22012' })),
      false,
    );
    assert.equal(
      isConnectionLoss(Object.assign(new Error('x'), { severity: 'ERROR', severity_local: 'FATAL' })),
      false,
      'the untranslated severity is the one read when there is one',
    );
    assert.equal(
      isConnectionLoss(Object.assign(new Error('x'), { code: 'ECONNRESET' })),
      false,
      'a code alone is no socket',
    );
    assert.equal(
      isConnectionLoss(new Error('x', { cause: socketError('read', 'ECONNRESET') })),
      false,
      'causes are not followed',
    );
    assert.equal(isConnectionLoss(undefined), false);
    assert.equal(isConnectionLoss('CONNECTION_CLOSED'), false);
  });
});

describe('database errors wrapped by callers', () => {
  const closed = () => Object.assign(new Error('CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' });
  const wrap = (err: Error, times: number) => {
    let outer = err;
    for (let i = 0; i < times; i++) outer = new Error(`wrapper ${i + 1}`, { cause: outer });
    return outer;
  };

  it('are followed five errors deep, and a chain of causes that loops ends', () => {
    assert.equal(errorKind(wrap(closed(), 4)), 'database', 'the fifth error of the chain');
    assert.equal(errorKind(wrap(closed(), 5)), 'unexpected', 'the sixth is not read');
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    a.cause = b;
    assert.equal(errorKind(a), 'unexpected');
  });
});

describe('isContention', () => {
  it('is only what database-limits.ts marks as contention', () => {
    assert.equal(isContention(Object.assign(new Error('lock timeout'), { contention: true })), true);
    assert.equal(isContention({ contention: true }), true);
    assert.equal(isContention({ contention: 'yes' }), false);
    assert.equal(isContention({}), false);
    assert.equal(isContention(new Error('x')), false);
    for (const value of [undefined, null, 0, 5, 'contention', true])
      assert.equal(isContention(value), false, String(value));
  });
});

describe('error names', () => {
  it("say which of the worker's errors a log line shows", () => {
    assert.equal(new PermanentError('bad_message', 'x').name, 'PermanentError');
    assert.equal(new SyncDeferredError('x', 30).name, 'SyncDeferredError');
    assert.equal(new DatabaseSocketError(socketError('read', 'ECONNRESET')).name, 'DatabaseSocketError');
  });
});
