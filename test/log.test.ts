import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { captureLogs } from './providers/support.ts';

const SECRET = 'S3CRET-handed-to-the-logger-0123456789';

/** An error the way got throws one: its request options, headers and API key included, on it. */
function requestError(): Error {
  return Object.assign(new Error('Request failed'), {
    options: { headers: { 'x-luma-api-key': SECRET, accept: 'application/json' } },
  });
}

// Each shape a secret reaches a log call in: the config and its parts, a database URL,
// a password, request headers alone or inside got's options, and an error carrying them.
const shapes: Array<[string, Record<string, unknown>]> = [
  ['apiKey', { apiKey: SECRET }],
  ['luma.apiKey', { luma: { apiKey: SECRET, pageSize: 100 } }],
  ['config.apiKey (any parent)', { config: { apiKey: SECRET } }],
  ['databaseUrl', { databaseUrl: `postgres://sync:${SECRET}@db:5432/directory` }],
  ['config.databaseUrl (any parent)', { config: { databaseUrl: `postgres://sync:${SECRET}@db/directory` } }],
  ['database.url', { database: { url: `postgres://sync:${SECRET}@db/directory`, poolMax: 5 } }],
  ['password', { password: SECRET }],
  ['connection.password (any parent)', { connection: { password: SECRET, user: 'sync' } }],
  ['headers', { headers: { 'x-luma-api-key': SECRET } }],
  ['request.headers (any parent)', { request: { headers: { 'x-luma-api-key': SECRET } } }],
  ['options.headers', { options: { headers: { 'x-luma-api-key': SECRET } } }],
  ['err.options.headers', { err: requestError() }],
];

describe('the process logger', () => {
  for (const [where, object] of shapes) {
    it(`redacts a secret handed to it as ${where}, and keeps the rest of the line`, () => {
      const { log, lines } = captureLogs();
      log.child({ component: 'test' }).warn({ ...object, eventUid: 'evt-1' }, 'something happened');
      assert.equal(lines.length, 1);
      const [line] = lines as [string];
      assert.ok(!line.includes(SECRET), `the secret reached the log line: ${line}`);
      assert.ok(line.includes('"[redacted]"'), `nothing was redacted: ${line}`);
      const entry = JSON.parse(line) as Record<string, unknown>;
      assert.equal(entry.msg, 'something happened');
      assert.equal(entry.eventUid, 'evt-1');
      assert.equal(entry.component, 'test');
    });
  }

  it('leaves values that are not secrets alone', () => {
    const { log, lines } = captureLogs();
    log.info({ luma: { pageSize: 100 }, headers: { accept: 'application/json' } }, 'configured');
    const entry = JSON.parse(lines[0] ?? '{}') as { luma: unknown; headers: unknown };
    assert.deepEqual(entry.luma, { pageSize: 100 });
    assert.deepEqual(entry.headers, { accept: 'application/json' });
  });
});
