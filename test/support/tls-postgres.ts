import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';

export interface TlsPostgres {
  port: number;
  user: string;
  password: string;
  /** The CA that signed the server's certificate, which names only "localhost". */
  caFile: string;
  stop(): Promise<void>;
}

/**
 * A throwaway PostgreSQL with ssl=on, serving a certificate for "localhost" signed by a CA
 * made here with openssl: what a managed database (RDS, Cloud SQL) looks like to a client
 * holding the provider's CA bundle. About two seconds to start.
 */
export async function startTlsPostgres(): Promise<TlsPostgres> {
  const certDir = mkdtempSync(path.join(os.tmpdir(), 'lgs-pg-ca-'));
  const server = await startEmbeddedPostgres({
    settings: { ssl: 'on', ssl_cert_file: 'server.crt', ssl_key_file: 'server.key' },
    beforeStart: (dataDir) => {
      const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: certDir, stdio: 'ignore' });
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
      openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=lgs test CA');
      openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
      writeFileSync(path.join(certDir, 'san.ext'), 'subjectAltName=DNS:localhost\n');
      openssl(
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        'san.ext',
        '-out',
        'server.crt',
      );
      // The server reads its key and certificate from its data directory, as its own user.
      const owner = statSync(dataDir);
      for (const file of ['server.crt', 'server.key']) {
        const target = path.join(dataDir, file);
        copyFileSync(path.join(certDir, file), target);
        chmodSync(target, 0o600);
        if (process.getuid?.() === 0) chownSync(target, owner.uid, owner.gid);
      }
    },
  });
  return {
    port: server.port,
    user: 'postgres',
    password: new URL(server.url).password,
    caFile: path.join(certDir, 'ca.crt'),
    async stop() {
      await server.stop();
      rmSync(certDir, { recursive: true, force: true });
    },
  };
}
