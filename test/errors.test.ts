import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDatabase } from '../src/db/client.ts';
import { errorKind, PermanentError } from '../src/errors.ts';
import { testEnv } from './support/env.ts';

describe('errorKind', () => {
  it('labels permanent errors, provider errors, database errors and the rest', async () => {
    assert.equal(errorKind(new PermanentError('bad_message', 'x')), 'bad_message');
    assert.equal(errorKind(Object.assign(new Error('x'), { kind: 'luma_timeout' })), 'luma_timeout');
    assert.equal(errorKind(new Error('x')), 'unexpected');
    assert.equal(errorKind('a string'), 'unexpected');

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
