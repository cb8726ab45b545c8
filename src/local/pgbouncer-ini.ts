import type { DatabaseTarget } from '../db/database-url.ts';

/** PgBouncer's own timeouts, in seconds; the tests shrink them. */
export interface PgBouncerSettings {
  /** Closes a server connection idle this long (PgBouncer's default is 600). */
  serverIdleTimeout?: number;
  /** Closes a server connection this old once it is idle (PgBouncer's default is 3600). */
  serverLifetime?: number;
  /** Server connections per database and user (PgBouncer's default is 20). */
  defaultPoolSize?: number;
  /**
   * Disconnects a client idle inside a transaction this long, which ends the transaction on
   * the server and frees its row locks (PgBouncer's default is 0, never).
   */
  idleTransactionTimeout?: number;
  /** Startup parameters accepted and dropped instead of refused, e.g. ["options"]. */
  ignoreStartupParameters?: string[];
  /**
   * A resolv.conf of its own for looking up a host name in the upstream URL (PgBouncer's
   * `resolv_conf`; c-ares 1.18 reads only its address, and asks it on port 53).
   */
  resolvConf?: string;
  /**
   * Checks a server connection idle this long with `select 1` before reusing it, in seconds
   * (PgBouncer's default is 30; 0 checks before every reuse).
   */
  serverCheckDelay?: number;
  /** How long a host name's lookup is reused, in seconds (PgBouncer's default is 15). */
  dnsMaxTtl?: number;
  /** How often the zone of each host name is asked for its SOA serial, in seconds (PgBouncer's default is 0, never). */
  dnsZoneCheckPeriod?: number;
}

/**
 * The pgbouncer.ini of the local PgBouncer (pgbouncer.ts): transaction mode on
 * `listenAddress`:`port`, every database name forwarded (`*`) to the upstream's host and
 * port, the logins of `authFile`, and `settings` over PgBouncer's own defaults.
 */
export function pgbouncerIni(
  target: { upstream: DatabaseTarget; listenAddress: string; port: number; authFile: string },
  settings: PgBouncerSettings,
): string {
  return [
    '[databases]',
    `* = host=${target.upstream.host} port=${target.upstream.port}`,
    '[pgbouncer]',
    `listen_addr = ${target.listenAddress}`,
    `listen_port = ${target.port}`,
    'unix_socket_dir =',
    'pool_mode = transaction',
    // The client's password is checked against the file and reused for the server login.
    'auth_type = plain',
    `auth_file = ${target.authFile}`,
    `admin_users = ${target.upstream.user}`,
    'max_client_conn = 500',
    `default_pool_size = ${settings.defaultPoolSize ?? 20}`,
    `server_idle_timeout = ${settings.serverIdleTimeout ?? 600}`,
    `server_lifetime = ${settings.serverLifetime ?? 3600}`,
    `idle_transaction_timeout = ${settings.idleTransactionTimeout ?? 0}`,
    `ignore_startup_parameters = ${(settings.ignoreStartupParameters ?? []).join(',')}`,
    'server_tls_sslmode = disable',
    `server_check_delay = ${settings.serverCheckDelay ?? 30}`,
    `dns_max_ttl = ${settings.dnsMaxTtl ?? 15}`,
    `dns_zone_check_period = ${settings.dnsZoneCheckPeriod ?? 0}`,
    ...(settings.resolvConf ? [`resolv_conf = ${settings.resolvConf}`] : []),
    'log_connections = 0',
    'log_disconnections = 0',
    '',
  ].join('\n');
}
