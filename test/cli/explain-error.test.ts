/** A one-shot command's failure names the variable that says where the unreachable dependency is. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainError } from '../../src/cli/explain-error.ts';
import { DatabaseLimitError } from '../../src/db/database-limits.ts';
import { LumaError } from '../../src/providers/luma-page.ts';

const refused = (extra: object = {}) =>
  Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', ...extra });

describe('explainError names what to check', () => {
  it('LUMA_API_URL for Luma', () => {
    const err = new LumaError('luma_unavailable', 'Luma request failed (ECONNREFUSED)', { cause: refused() });
    assert.equal(
      explainError(err),
      'cannot connect to Luma: connection refused — is it running there? Check LUMA_API_URL',
    );
  });

  it('AWS_ENDPOINT_URL_SQS for SQS', () => {
    const err = Object.assign(new Error('request failed', { cause: refused({ address: '127.0.0.1', port: 1 }) }), {
      $metadata: {},
    });
    assert.equal(
      explainError(err),
      'cannot connect to SQS at 127.0.0.1:1: connection refused — is it running there? Check AWS_ENDPOINT_URL_SQS (or AWS_REGION)',
    );
  });

  it('DATABASE_URL for the database, DNS failures included', () => {
    const err = Object.assign(new Error('db'), { name: 'DatabaseProbeError' });
    err.cause = Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND', hostname: 'db.internal' });
    assert.equal(
      explainError(err),
      'cannot connect to the database: host "db.internal" not found in DNS — check DATABASE_URL',
    );
  });

  it("a database limit's own sentence (the setting, what it stopped), not the server's bare text", () => {
    const server = Object.assign(new Error('canceling statement due to statement timeout'), {
      name: 'PostgresError',
      code: '57014',
    });
    const err = new DatabaseLimitError('statement_timeout', 'stale removal', { value: '1s', source: 'user' }, server);
    const text = explainError(err);
    assert.match(text, /^statement_timeout \(1s\) set for the worker's role cancelled stale removal/);
  });
});
