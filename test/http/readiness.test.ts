import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { createDatabase } from '../../src/db/client.ts';
import { checkSchema } from '../../src/db/schema-check.ts';
import { createReadiness, type SqlTag } from '../../src/http/readiness.ts';
import { createTestDatabase } from '../support/db.ts';
import { createFifoQueue, createTestSqs } from '../support/sqs-queue.ts';

const sqs = createTestSqs();
const database = await createTestDatabase({ label: 'readiness' });
const bare = await createTestDatabase({ label: 'readiness_bare', migrate: false });
const queue = await createFifoQueue(sqs, { label: 'readiness' });

const pingQueue = (queueUrl: string) => async (signal?: AbortSignal) => {
  await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }), {
    abortSignal: signal,
  });
};
const SCHEMA_OK = { ok: true, missing: [], message: 'schema ok' };
const okSql = (async () => [{ '?column?': 1 }]) as SqlTag;

describe('createReadiness', () => {
  it('is ready against a migrated database and a reachable queue', async () => {
    const readiness = createReadiness({
      sql: database.sql,
      checkSchema,
      sqsPing: pingQueue(queue.url),
      isShuttingDown: () => false,
    });
    const report = await readiness();
    assert.deepEqual(report, {
      ready: true,
      checks: { database: { ok: true }, schema: { ok: true }, queue: { ok: true }, shutdown: { ok: true } },
    });
  });

  it('is unready, naming the migration to run, while the schema is missing', async () => {
    const readiness = createReadiness({
      sql: bare.sql,
      checkSchema,
      sqsPing: pingQueue(queue.url),
      isShuttingDown: () => false,
    });
    const report = await readiness();
    assert.equal(report.ready, false);
    assert.equal(report.checks.database?.ok, true);
    assert.equal(report.checks.schema?.ok, false);
    assert.match(report.checks.schema?.detail ?? '', /db:migrate/);
  });

  it('remembers a complete schema but re-checks a missing one', async () => {
    let calls = 0;
    let ok = false;
    const readiness = createReadiness({
      sql: okSql,
      checkSchema: async () => {
        calls++;
        return ok ? SCHEMA_OK : { ok: false, missing: ['"Member"'], message: 'missing "Member"' };
      },
      sqsPing: async () => {},
      isShuttingDown: () => false,
    });
    assert.equal((await readiness()).ready, false);
    assert.equal((await readiness()).ready, false);
    ok = true;
    assert.equal((await readiness()).ready, true);
    assert.equal((await readiness()).ready, true);
    assert.equal(calls, 3);
  });

  it('once the schema is remembered, checks on every probe whether the server takes writes (a failover)', async () => {
    let schemaCalls = 0;
    let writableCalls = 0;
    let readOnly = false;
    const readiness = createReadiness({
      sql: okSql,
      checkSchema: async () => {
        schemaCalls++;
        return SCHEMA_OK;
      },
      checkWritable: async () => {
        writableCalls++;
        return readOnly
          ? { ok: false, missing: [], setting: 'transaction_read_only', message: 'The database server is a standby.' }
          : { ok: true, missing: [], message: 'writable' };
      },
      sqsPing: async () => {},
      isShuttingDown: () => false,
    });
    assert.equal((await readiness()).ready, true);
    readOnly = true;
    assert.deepEqual((await readiness()).checks.schema, { ok: false, detail: 'The database server is a standby.' });
    readOnly = false;
    assert.equal((await readiness()).ready, true);
    assert.deepEqual([schemaCalls, writableCalls], [1, 2]);
  });

  it('tells a setting in the way as the check says it, never as a migration to run', async () => {
    const message = 'The worker\'s search_path ("$user") does not lead to schema public …';
    const readiness = createReadiness({
      sql: okSql,
      checkSchema: async () => ({
        ok: false,
        missing: ['schema public on the search_path'],
        setting: 'search_path',
        message,
      }),
      sqsPing: async () => {},
      isShuttingDown: () => false,
    });
    assert.deepEqual((await readiness()).checks.schema, { ok: false, detail: message });
  });

  it('reports an unreachable database by error code, without its URL or password', async () => {
    const unreachable = createDatabase({
      url: 'postgres://directory:pa55-w0rd-s3cret@127.0.0.1:1/directory',
      poolMax: 1,
    });
    after(() => unreachable.close());
    const readiness = createReadiness({
      sql: unreachable.sql,
      checkSchema,
      sqsPing: pingQueue(queue.url),
      isShuttingDown: () => false,
    });
    const report = await readiness();
    assert.equal(report.ready, false);
    assert.deepEqual(report.checks.database, { ok: false, detail: 'database unreachable (ECONNREFUSED)' });
    const body = JSON.stringify(report);
    assert.doesNotMatch(body, /pa55-w0rd-s3cret|postgres:\/\//);
  });

  it('bounds a hanging check by its timeout', async () => {
    const hanging = (() => new Promise(() => {})) as SqlTag;
    const readiness = createReadiness({
      sql: hanging,
      checkSchema: async () => SCHEMA_OK,
      sqsPing: (signal) =>
        new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted')))),
      isShuttingDown: () => false,
      timeoutMs: 50,
    });
    // The checks never answer: that readiness() returns at all is the bound at work.
    const report = await readiness();
    assert.equal(report.ready, false);
    assert.deepEqual(report.checks.database, { ok: false, detail: 'database check timed out after 50 ms' });
    assert.deepEqual(report.checks.queue, { ok: false, detail: 'queue check timed out after 50 ms' });
    assert.equal(report.checks.schema?.ok, true);
  });

  it('reports a missing queue as unready', async () => {
    const readiness = createReadiness({
      sql: okSql,
      checkSchema: async () => SCHEMA_OK,
      sqsPing: pingQueue(`${queue.url.replace(/[^/]+$/, '')}does-not-exist.fifo`),
      isShuttingDown: () => false,
    });
    const report = await readiness();
    assert.equal(report.ready, false);
    assert.equal(report.checks.queue?.ok, false);
    assert.match(report.checks.queue?.detail ?? '', /^queue unreachable \(/);
  });

  it('answers unready at once while shutting down, touching nothing', async () => {
    const readiness = createReadiness({
      sql: (() => assert.fail('no query while shutting down')) as SqlTag,
      checkSchema: async () => assert.fail('no schema check while shutting down'),
      sqsPing: async () => assert.fail('no ping while shutting down'),
      isShuttingDown: () => true,
    });
    assert.deepEqual(await readiness(), {
      ready: false,
      checks: { shutdown: { ok: false, detail: 'shutting down' } },
    });
  });

  it('shares one evaluation between concurrent probes', async () => {
    let queries = 0;
    const readiness = createReadiness({
      sql: (async () => {
        queries++;
        await new Promise((resolve) => setTimeout(resolve, 20));
        return [];
      }) as SqlTag,
      checkSchema: async () => SCHEMA_OK,
      sqsPing: async () => {},
      isShuttingDown: () => false,
    });
    const reports = await Promise.all([readiness(), readiness(), readiness()]);
    assert.equal(queries, 1);
    assert.ok(reports.every((r) => r.ready));
  });
});
