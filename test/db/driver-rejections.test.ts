/**
 * The daemon survives the one unhandled rejection postgres.js 3.4.9 leaves behind (the
 * array-type lookup of a new connection failing, e.g. PgBouncer's server_login_retry while
 * PostgreSQL restarts: the soak saw every replica behind PgBouncer die of it) and still
 * dies of every other unhandled rejection, as Node makes it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isDriverStartupRejection, surviveDriverStartupRejections } from '../../src/db/driver-rejections.ts';
import type { Logger } from '../../src/log.ts';
import { createTestDatabase } from '../support/db.ts';
import { viaPgBouncer } from '../support/pgbouncer.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A PostgresError as the driver builds it from an ErrorResponse, with the stack the soak logged. */
const DRIVER_STACK = [
  'PostgresError: server login has been failing, try again later (server_login_retry)',
  '    at ErrorResponse (file:///app/node_modules/postgres/src/connection.js:815:30)',
  '    at handle (file:///app/node_modules/postgres/src/connection.js:489:6)',
  '    at Socket.data (file:///app/node_modules/postgres/src/connection.js:324:9)',
  '    at Socket.emit (node:events:514:28)',
  '    at TCP.onStreamRead (node:internal/stream_base_commons:189:23)',
].join('\n');
const OUR_QUERY_STACK = `${DRIVER_STACK}\n    at claimEvent (file:///app/src/sync/claim.ts:120:5)`;

function run(stack: string, name = 'PostgresError') {
  const script = `
    import { surviveDriverStartupRejections } from ${JSON.stringify(path.join(ROOT, 'src/db/driver-rejections.ts'))};
    const log = { warn: (fields, msg) => console.log(msg + ' ' + JSON.stringify(fields)) };
    surviveDriverStartupRejections(log);
    const err = Object.assign(new Error('server login has been failing'), { name: ${JSON.stringify(name)}, code: '08P01' });
    err.stack = ${JSON.stringify(stack)};
    Promise.reject(err);
    setTimeout(() => console.log('still running'), 200);
  `;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
}

const database = await createTestDatabase({ label: 'driver_rejections', migrate: false });

/**
 * A real driver in a process of its own, the guard installed, whose first connection's
 * socket is reset (ECONNRESET, as a failover or a network device does) right after it
 * sends its array-type lookup: the lookup's promise, which the driver drops, rejects with
 * the socket's own error, no PostgresError. The query that asked for the connection fails
 * with it too, handled; the next one starts a connection of its own.
 */
function runResetDuringLookup(url: string, behindPooler: boolean) {
  const script = `
    import net from 'node:net';
    import postgres from 'postgres';
    import { surviveDriverStartupRejections } from ${JSON.stringify(path.join(ROOT, 'src/db/driver-rejections.ts'))};
    const log = { warn: (fields, msg) => console.log(msg + ' ' + JSON.stringify(fields)) };
    surviveDriverStartupRejections(log);
    const url = new URL(process.env.URL);
    let reset = true;
    const sql = postgres(process.env.URL, { max: 1, onnotice: () => {}, prepare: ${!behindPooler}, socket: () => {
      const socket = net.connect(Number(url.port), url.hostname);
      const write = socket.write.bind(socket);
      socket.write = (bytes, ...rest) => {
        const written = write(bytes, ...rest);
        if (reset && Buffer.from(bytes).includes('typarray')) {
          reset = false;
          const err = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
          // Before any answer can be read: the lookup is still waiting when its socket goes.
          process.nextTick(() => socket.destroy(err));
        }
        return written;
      };
      return socket;
    } });
    const first = await sql\`SELECT 1\`.then(() => 'answered', (err) => err.code);
    console.log('first: ' + first);
    const [{ two }] = await sql\`SELECT 2 AS two\`;
    console.log('second: ' + two);
    await new Promise((resolve) => setTimeout(resolve, 200));
    console.log('still running');
    await sql.end();
  `;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, URL: url },
  });
}

describe('unhandled rejections of the database driver', () => {
  for (const [route, url, behindPooler] of [
    ['directly', () => database.url, false],
    ['through PgBouncer', () => viaPgBouncer(database.name), true],
  ] as const) {
    it(`${route}: survives a new connection's socket reset during its array-type lookup, and logs it`, () => {
      const child = runResetDuringLookup(url(), behindPooler);
      assert.equal(child.status, 0, child.stderr);
      assert.match(child.stdout, /first: ECONNRESET/);
      assert.match(
        child.stdout,
        /a new database connection failed to start; the driver dropped the error .*"code":"ECONNRESET"/,
      );
      assert.match(child.stdout, /second: 2/);
      assert.match(child.stdout, /still running/);
    });
  }

  it("survives the driver's own dropped connection-start error, and logs it", () => {
    const child = run(DRIVER_STACK);
    assert.equal(child.status, 0, child.stderr);
    assert.match(
      child.stdout,
      /a new database connection failed to start; the driver dropped the error .*"code":"08P01"/,
    );
    assert.match(child.stdout, /still running/);
  });

  it('still dies of a rejected query of its own, and of any other error', () => {
    for (const [stack, name] of [
      [OUR_QUERY_STACK, 'PostgresError'],
      [DRIVER_STACK, 'Error'],
    ] as const) {
      const child = run(stack, name);
      assert.notEqual(child.status, 0, `${name}: ${child.stdout}`);
      assert.doesNotMatch(child.stdout, /still running/);
    }
  });

  it('tells the two apart by the stack alone', () => {
    const err = (stack: string, name = 'PostgresError') => Object.assign(new Error('x'), { name, stack });
    assert.equal(isDriverStartupRejection(err(DRIVER_STACK)), true);
    assert.equal(isDriverStartupRejection(err(OUR_QUERY_STACK)), false);
    assert.equal(isDriverStartupRejection(err('PostgresError: no frames')), false);
    assert.equal(isDriverStartupRejection(null), false);
    assert.equal(isDriverStartupRejection({ name: 'PostgresError' }), false, 'no stack to read');
    // Only a PostgresError: any other error with the driver's frames is not told apart by them.
    assert.equal(isDriverStartupRejection(err(DRIVER_STACK, 'Error')), false);
    // A frame is a line that starts with "at": a message that says "at" is no frame.
    const atInMessage = DRIVER_STACK.replace('try again later', 'try again at a later time');
    assert.equal(isDriverStartupRejection(err(atInMessage)), true);
  });

  it('tells the lookup by the statement the driver names on the error, whatever the error', () => {
    const named = (query: string) =>
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', query, stack: 'Error: read ECONNRESET' });
    const lookup =
      'select b.oid, b.typarray from pg_catalog.pg_type a left join pg_catalog.pg_type b on b.oid = a.typelem';
    assert.equal(isDriverStartupRejection(named(lookup)), true);
    assert.equal(isDriverStartupRejection(named('SELECT claim_event($1)')), false);
    // Another look at the catalogue is not the lookup.
    assert.equal(isDriverStartupRejection(named('SELECT typname FROM pg_catalog.pg_type')), false);
    assert.equal(isDriverStartupRejection(named('SELECT b.typarray FROM our_own_types b')), false);
    assert.equal(isDriverStartupRejection(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })), false);
  });
  it('in this process: logs the lookup\u2019s rejection, rethrows any other, and lets go when told', () => {
    const warnings: Array<{ fields: unknown; message: string }> = [];
    const log = { warn: (fields: unknown, message: string) => warnings.push({ fields, message }) } as unknown as Logger;
    const before = process.listenerCount('unhandledRejection');
    const release = surviveDriverStartupRejections(log);
    const listener = process.listeners('unhandledRejection').at(-1) as (reason: unknown) => void;
    try {
      assert.equal(process.listenerCount('unhandledRejection'), before + 1);
      const lookup = Object.assign(new Error('read ECONNRESET'), {
        code: 'ECONNRESET',
        query: 'select b.oid, b.typarray from pg_catalog.pg_type a',
      });
      listener(lookup);
      assert.deepEqual(warnings, [
        {
          fields: { code: 'ECONNRESET', reason: 'read ECONNRESET' },
          message: 'a new database connection failed to start; the driver dropped the error',
        },
      ]);
      assert.equal(process.listenerCount('unhandledRejection'), before + 1, 'still listening');
      const other = new Error('a promise of our own');
      assert.throws(
        () => listener(other),
        (err) => err === other,
      );
      // Node's own behaviour from then on: the listener is gone.
      assert.equal(process.listenerCount('unhandledRejection'), before);
    } finally {
      release();
    }
    const again = surviveDriverStartupRejections(log);
    assert.equal(process.listenerCount('unhandledRejection'), before + 1);
    again();
    assert.equal(process.listenerCount('unhandledRejection'), before, 'released');
  });
});
