import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { createDatabase, redactDatabaseUrl } from '../../src/db/client.ts';
import { connectionOptions } from '../../src/db/connection-options.ts';
import { DatabaseUrlError, parseDatabaseUrl } from '../../src/db/database-url.ts';
import { runMigrations } from '../../src/db/migrate.ts';
import { checkSchema } from '../../src/db/schema-check.ts';
import { createTestDatabase } from '../support/db.ts';

const refused = (url: string, reason: RegExp) =>
  assert.throws(
    () => parseDatabaseUrl(url),
    (err: unknown) => err instanceof DatabaseUrlError && reason.test(err.message),
  );

describe('DATABASE_URL, read as libpq reads it', () => {
  it('takes a Unix socket directory from host=, with or without credentials, or percent-encoded as the host', () => {
    assert.deepEqual(parseDatabaseUrl('postgresql:///directory?host=/var/run/postgresql'), {
      socketDir: '/var/run/postgresql',
      port: 5432,
      database: 'directory',
      user: undefined,
      password: undefined,
      sslmode: 'disable',
      sslrootcert: undefined,
      applicationName: undefined,
      connectTimeoutSeconds: undefined,
      options: undefined,
    });
    const withCredentials = parseDatabaseUrl('postgres://lgs:p%40ss@/directory?host=/run/pg&port=5433');
    assert.deepEqual(
      [withCredentials.socketDir, withCredentials.port, withCredentials.user, withCredentials.password],
      ['/run/pg', 5433, 'lgs', 'p@ss'],
    );
    assert.equal(parseDatabaseUrl('postgresql://%2Fvar%2Frun%2Fpostgresql/directory').socketDir, '/var/run/postgresql');
  });

  it('reads host, port, database and IPv6 addresses, query parameters overriding the parts before them', () => {
    const tcp = parseDatabaseUrl(
      'postgres://lgs:pw@db.example.com:6543/directory?application_name=ops&connect_timeout=5',
    );
    assert.deepEqual(
      [tcp.host, tcp.port, tcp.database, tcp.sslmode, tcp.applicationName, tcp.connectTimeoutSeconds],
      ['db.example.com', 6543, 'directory', 'prefer', 'ops', 5],
    );
    assert.equal(parseDatabaseUrl('postgres://[::1]:5432/d').host, '::1');
    const overridden = parseDatabaseUrl('postgres://a@h1/d1?host=h2&dbname=d2&user=b&options=-c%20search_path%3Ddir');
    assert.deepEqual(
      [overridden.host, overridden.database, overridden.user, overridden.options],
      ['h2', 'd2', 'b', '-c search_path=dir'],
    );
  });

  it('follows libpq for sslmode: prefer by default, require with a CA file verifies the chain, system means verify-full', () => {
    const mode = (query: string) => parseDatabaseUrl(`postgres://h/d${query}`).sslmode;
    assert.equal(mode(''), 'prefer');
    assert.equal(mode('?sslmode=require'), 'require');
    assert.equal(mode('?sslmode=require&sslrootcert=/etc/ssl/rds.pem'), 'verify-ca');
    assert.equal(mode('?sslmode=verify-full&sslrootcert=/etc/ssl/rds.pem'), 'verify-full');
    assert.equal(mode('?sslrootcert=system'), 'verify-full');
    refused('postgres://h/d?sslrootcert=system&sslmode=require', /sslrootcert=system needs sslmode=verify-full/);
    assert.equal(
      parseDatabaseUrl('postgres:///d?host=/run/pg&sslmode=require').sslmode,
      'disable',
      'no TLS on a socket',
    );
  });

  it('refuses, with the reason, what it cannot honour instead of connecting somewhere else', () => {
    refused('mysql://u:p@h/d', /must be a postgres:\/\/ connection URL/);
    refused('postgres:///directory', /names no host/);
    refused('postgres://u:p@h/d?target_session_attrs=read-write', /parameter "target_session_attrs" is not supported/);
    refused('postgres://u:p@h1:5432,h2:5432/d', /several hosts/);
    refused('postgres://h/d?sslmode=allow', /sslmode "allow" is not supported/);
    refused('postgres://h:99999/d', /port must be a whole number from 1 to 65535/);
    refused('postgres://h/d?connect_timeout=soon', /connect_timeout must be a whole number/);
    assert.throws(
      () => connectionOptions('postgres://h/d?sslmode=verify-full&sslrootcert=/no/such/ca.pem'),
      /sslrootcert file "\/no\/such\/ca.pem" cannot be read \(ENOENT\)/,
    );
  });

  it('is checked by loadConfig with the other variables, never echoing the password', () => {
    const password = 'S3cret-pw-qq';
    assert.equal(
      loadConfig({ DATABASE_URL: 'postgres://u:p@/d?host=/run/pg' }).database.url,
      'postgres://u:p@/d?host=/run/pg',
    );
    assert.throws(
      () => loadConfig({ DATABASE_URL: `postgres://u:${password}@h/d?sslmode=allow`, LUMA_PAGE_SIZE: '0' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /DATABASE_URL: sslmode "allow" is not supported/.test(err.message) &&
        /LUMA_PAGE_SIZE/.test(err.message) &&
        !err.message.includes(password),
    );
    assert.equal(
      redactDatabaseUrl(`postgres://u@/d?host=/run/pg&password=${password}`),
      'postgres://u:***@/d?host=/run/pg&port=5432',
    );
    assert.equal(redactDatabaseUrl(`postgres://u:${password}@db:6543/d`), 'postgres://u:***@db:6543/d?sslmode=prefer');
  });
});

describe('DATABASE_URL against the real server', () => {
  it('connects over the Unix socket a libpq-style URL names, and migrates through it', async () => {
    const database = await createTestDatabase({ migrate: false, label: 'socket_url' });
    const [settings] = await database.sql<{ dir: string; port: string }[]>`
      SELECT split_part(current_setting('unix_socket_directories'), ',', 1) AS dir, current_setting('port') AS port`;
    const tcp = new URL(database.url);
    const socketUrl = `postgres://${tcp.username}:${tcp.password}@/${database.name}?host=${settings!.dir}&port=${settings!.port}`;

    const viaSocket = createDatabase({ url: socketUrl, poolMax: 1 });
    try {
      const [row] = await viaSocket.sql<{ addr: string | null; db: string }[]>`
        SELECT inet_client_addr()::text AS addr, current_database() AS db`;
      assert.deepEqual(row, { addr: null, db: database.name }, 'a socket connection has no client address');
    } finally {
      await viaSocket.close();
    }
    await runMigrations(socketUrl);
    assert.equal((await checkSchema(database.sql)).ok, true);
  });
});
