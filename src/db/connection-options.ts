import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type postgres from 'postgres';
import { type DatabaseTarget, DatabaseUrlError, parseDatabaseUrl } from './database-url.ts';

/**
 * The postgres.js options for DATABASE_URL. The URL is parsed here (database-url.ts), never
 * by postgres.js, which ignores `host=` in the query, sends unknown parameters such as
 * `sslrootcert` to the server as settings, and checks a certificate for an IP host against
 * "localhost". Reads the CA file named by sslrootcert; throws DatabaseUrlError.
 */
export function connectionOptions(
  url: string,
  extra: Omit<postgres.Options<Record<string, never>>, 'host' | 'port' | 'path' | 'ssl'> = {},
): postgres.Options<Record<string, never>> {
  const target = parseDatabaseUrl(url);
  const where = target.socketDir
    ? { path: `${target.socketDir}/.s.PGSQL.${target.port}` }
    : { host: target.host, port: target.port };
  return {
    ...extra,
    ...where,
    database: target.database,
    username: target.user,
    password: target.password,
    ssl: sslOptions(target),
    ...(target.connectTimeoutSeconds ? { connect_timeout: target.connectTimeoutSeconds } : {}),
    connection: {
      ...extra.connection,
      ...(target.applicationName ? { application_name: target.applicationName } : {}),
      ...(target.options ? { options: target.options } : {}),
    },
  };
}

/** libpq's sslmode, as postgres.js and node:tls express it. */
function sslOptions(target: DatabaseTarget): postgres.Options<Record<string, never>>['ssl'] {
  switch (target.sslmode) {
    case 'disable':
      return false;
    // TLS when the server offers it (prefer) or always (require), the certificate unchecked.
    case 'prefer':
    case 'require':
      return target.sslmode;
    case 'verify-ca':
      // The chain must lead to a trusted root; the name in the certificate is not checked.
      return { ca: caBundle(target), rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full': {
      const host = target.host ?? '';
      return {
        ca: caBundle(target),
        rejectUnauthorized: true,
        // Checked against the host the URL names, address or name alike.
        checkServerIdentity: (_servername: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(host, cert),
      };
    }
  }
}

/** The CA file's contents; undefined means the system's trusted roots (Node's bundle). */
function caBundle(target: DatabaseTarget): string | undefined {
  const file = target.sslrootcert;
  if (!file || file === 'system') return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new DatabaseUrlError(`sslrootcert file "${file}" cannot be read (${(err as NodeJS.ErrnoException).code})`);
  }
}
