import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDatabase } from '../../src/db/client.ts';
import { startTlsPostgres, type TlsPostgres } from '../support/tls-postgres.ts';

let server: TlsPostgres;
before(async () => {
  server = await startTlsPostgres();
});
after(() => server.stop());

/** Connects with `url`'s TLS settings and reports whether the session is encrypted. */
async function sessionOver(host: string, query: string): Promise<{ ssl: boolean }> {
  const url = `postgres://${server.user}:${server.password}@${host}:${server.port}/postgres${query}`;
  const database = createDatabase({ url, poolMax: 1 });
  try {
    const [row] = await database.sql<{ ssl: boolean }[]>`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`;
    return { ssl: row!.ssl };
  } finally {
    await database.close();
  }
}

describe('DATABASE_URL sslmode against a PostgreSQL serving TLS (a certificate for "localhost" from a private CA)', () => {
  it('verify-full with the CA bundle in sslrootcert connects to the host the certificate names', async () => {
    assert.deepEqual(await sessionOver('localhost', `?sslmode=verify-full&sslrootcert=${server.caFile}`), {
      ssl: true,
    });
  });

  it('verify-full refuses a host the certificate does not name, even with the right CA', async () => {
    await assert.rejects(
      sessionOver('127.0.0.1', `?sslmode=verify-full&sslrootcert=${server.caFile}`),
      /does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID/,
    );
  });

  it('verify-full refuses a certificate from a CA it was not given', async () => {
    await assert.rejects(sessionOver('localhost', '?sslmode=verify-full'), /certificate|self.signed|issuer/i);
  });

  it('verify-ca checks the chain but not the name', async () => {
    assert.deepEqual(await sessionOver('127.0.0.1', `?sslmode=verify-ca&sslrootcert=${server.caFile}`), { ssl: true });
    await assert.rejects(sessionOver('127.0.0.1', '?sslmode=verify-ca'), /certificate|self.signed|issuer/i);
  });

  it('require encrypts without checking the certificate, as libpq does; prefer encrypts when offered; disable does not', async () => {
    assert.deepEqual(await sessionOver('127.0.0.1', '?sslmode=require'), { ssl: true });
    assert.deepEqual(await sessionOver('127.0.0.1', ''), { ssl: true }, 'prefer is the default');
    assert.deepEqual(await sessionOver('127.0.0.1', '?sslmode=disable'), { ssl: false });
  });
});
