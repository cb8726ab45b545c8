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
    } finally {
      await database.close();
    }
  });
});
