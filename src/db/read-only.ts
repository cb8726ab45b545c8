import type { Sql } from './client.ts';
import { sourceOf } from './database-limits.ts';
import { endReadOnlySessions } from './read-only-sessions.ts';
import type { SchemaCheck } from './schema-check.ts';

/**
 * Whether the worker's sessions can write, and if not why, told as what to change: every
 * sync writes (its claim first), so on a read-only server each would fail at its first
 * statement with SQLSTATE 25006, while the schema check, which only reads, passed.
 *
 * Read-only means `transaction_read_only` on in a new transaction of the session: either
 * the server is a hot standby (`pg_is_in_recovery()`: DATABASE_URL leads to a read
 * replica or reader endpoint, or the worker reached an old primary or a standby during a
 * failover), or `default_transaction_read_only` is on for the role, the database or the
 * server (a DBA freezing writes, as a switchover does on the old primary).
 *
 * Not a reason to exit: a failover is over in a minute or two, and a standby the worker
 * is connected to may be promoted under it (its sessions then write). The start-up check
 * (daemon.ts) waits and checks again; readiness checks it on every probe (readiness.ts).
 * The worker never overrides the setting itself, as it does default_transaction_isolation
 * on a direct connection (session-settings.ts): a DBA who turns it on means to stop
 * writes, and a switchover relies on that. A session found read-only is ended, with the
 * pool's other read-only ones, before the answer (read-only-sessions.ts): after a
 * switchover that moved DATABASE_URL's host name, the next check connects to the new
 * primary instead of asking the old one again.
 */
export async function checkWritable(sql: Sql): Promise<SchemaCheck> {
  const [row] = await sql<{ read_only: string; standby: boolean; setting: string; source: string | null }[]>`
    SELECT current_setting('transaction_read_only') AS read_only, pg_is_in_recovery() AS standby,
      current_setting('default_transaction_read_only') AS setting,
      (SELECT source FROM pg_settings WHERE name = 'default_transaction_read_only') AS source`;
  if (row?.read_only !== 'on') return { ok: true, missing: [], message: 'writable' };
  await endReadOnlySessions(sql);
  const problem = { ok: false, missing: [], setting: 'transaction_read_only' };
  if (row.standby) {
    return {
      ...problem,
      message:
        'The database server is a read-only hot standby (pg_is_in_recovery()): DATABASE_URL leads to a read replica or reader endpoint, or a failover is under way. Point DATABASE_URL at the primary (the writer endpoint); the worker checks again until it can write.',
    };
  }
  const where = row.setting === 'on' && row.source ? ` (${sourceOf(row.source)})` : '';
  return {
    ...problem,
    message: `The worker's sessions are read-only: default_transaction_read_only is on${where}. Remove it (ALTER ROLE <worker> RESET default_transaction_read_only, or ALTER DATABASE … RESET; docs/security.md, "Role settings"), or point DATABASE_URL at a writable primary.`,
  };
}
