/**
 * DATABASE_URL, read the way libpq reads a connection URI — for the parameters the worker
 * honours. Anything else is refused with a reason, never ignored: an ignored `host=` once
 * sent the worker to localhost:5432 instead of the socket it named.
 *
 * Pure: no file is read and nothing is connected here (client.ts does that), so the
 * configuration loader can run it to report a bad URL with the other bad variables.
 */

/** libpq's sslmode values this worker honours ("allow", plaintext first, is not one). */
export const SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The query parameters honoured, as libpq names them. */
const PARAMETERS = new Set([
  'host',
  'port',
  'dbname',
  'user',
  'password',
  'sslmode',
  'sslrootcert',
  'application_name',
  'connect_timeout',
  'options',
]);

export interface DatabaseTarget {
  /** A TCP host name or address; absent when `socketDir` is set. */
  host?: string;
  /** The directory holding the server's Unix socket (libpq: a host that starts with "/"). */
  socketDir?: string;
  port: number;
  database?: string;
  user?: string;
  password?: string;
  /** Never applies to a Unix socket: libpq uses TLS over TCP only. */
  sslmode: SslMode;
  /** A CA bundle file, or "system" for the system's trusted roots. */
  sslrootcert?: string;
  applicationName?: string;
  connectTimeoutSeconds?: number;
  /** Server options sent at start-up, e.g. "-c search_path=directory". */
  options?: string;
}

/** A DATABASE_URL the worker cannot honour; the message never holds the password. */
export class DatabaseUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseUrlError';
  }
}

// scheme://[userinfo@][hostlist][/dbname][?query] — parsed by hand because the WHATWG URL
// parser refuses what libpq accepts, such as credentials before an empty host. As in
// libpq, the user information runs to the first "@" before any "/": a "?" or "#" in it
// is the password's, never the start of a query that an error message would quote.
const URI = /^(postgres|postgresql):\/\/(?:([^@/]*)@)?([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/;

/** Said, without quoting any of it, when a password's "@" or "/" was left unencoded. */
const ENCODE_CREDENTIALS =
  'percent-encode the user name and password: "@" as %40, ":" as %3A, "/" as %2F, "?" as %3F, "#" as %23, "%" as %25 (encodeURIComponent does)';

/** Control characters (C0, DEL, C1): PostgreSQL's start-up packet ends every value at a NUL. */
const CONTROL = /\p{Cc}/u;

export function parseDatabaseUrl(url: string): DatabaseTarget {
  const match = URI.exec(url);
  if (!match) {
    throw new DatabaseUrlError(
      'must be a postgres:// connection URL (postgres:// or postgresql://), e.g. postgres://user:password@host:5432/directory',
    );
  }
  const [, , userinfo, hostport = '', path, query] = match;
  // A second "@" (or one after a "/") is a password's: read as libpq would, the rest of the
  // password becomes the host or the database name, and then an error message prints it.
  if (hostport.includes('@'))
    throw new DatabaseUrlError(`holds an unencoded "@" in its user information: ${ENCODE_CREDENTIALS}`);
  if (path?.includes('@')) {
    throw new DatabaseUrlError(`holds an "@" after a "/" (a "/" in the password?): ${ENCODE_CREDENTIALS}`);
  }
  const params = new Map<string, string>();
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined && value !== '') params.set(name, value);
  };

  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    set('user', decode(colon < 0 ? userinfo : userinfo.slice(0, colon), 'the user name'));
    if (colon >= 0) set('password', decode(userinfo.slice(colon + 1), 'the password'));
  }
  if (hostport.includes(',')) {
    throw new DatabaseUrlError('names several hosts; the worker connects to one: keep one host');
  }
  const hostMatch = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(hostport);
  set('host', decode((hostMatch?.[1] ?? '').replace(/^\[(.*)\]$/, '$1'), 'the host'));
  set('port', hostMatch?.[2]);
  set('dbname', path === undefined ? undefined : decode(path, 'the database name'));

  // Query parameters override the parts above, as in libpq.
  for (const pair of (query ?? '').split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decode(eq < 0 ? pair : pair.slice(0, eq), 'a parameter name');
    if (!PARAMETERS.has(name)) {
      throw new DatabaseUrlError(
        `parameter "${name}" is not supported; the worker honours ${[...PARAMETERS].join(', ')}`,
      );
    }
    if (eq < 0) throw new DatabaseUrlError(`parameter "${name}" has no value`);
    params.set(name, decode(pair.slice(eq + 1), `parameter "${name}"`));
  }
  return target(params);
}

function target(params: Map<string, string>): DatabaseTarget {
  const host = params.get('host');
  if (!host) {
    throw new DatabaseUrlError(
      'names no host: give one (postgres://user@host:5432/db) or a socket directory (postgresql:///db?host=/var/run/postgresql)',
    );
  }
  if (host.includes(',')) throw new DatabaseUrlError('names several hosts; the worker connects to one: keep one host');
  if (host.startsWith('@')) throw new DatabaseUrlError('names an abstract Unix socket, which is not supported');
  const port = wholeNumber(params.get('port') ?? '5432', 'port', 1, 65_535);
  const timeout = params.get('connect_timeout');
  if (timeout !== undefined && /^0+$/.test(timeout)) {
    // libpq's "wait forever"; issue 21 §4 is that no command may hang on the database.
    throw new DatabaseUrlError(
      'connect_timeout=0 (libpq: wait forever) is not accepted: the worker and its commands never wait forever for the database; give seconds from 1 to 86400, or leave it out for 10',
    );
  }
  const sslrootcert = params.get('sslrootcert');
  const sslmode = sslModeOf(params.get('sslmode'), sslrootcert);
  const socket = host.startsWith('/');
  return {
    ...(socket ? { socketDir: host } : { host }),
    port,
    database: params.get('dbname'),
    user: params.get('user'),
    password: params.get('password'),
    sslmode: socket ? 'disable' : sslmode,
    sslrootcert,
    applicationName: params.get('application_name'),
    connectTimeoutSeconds: timeout === undefined ? undefined : wholeNumber(timeout, 'connect_timeout', 1, 86_400),
    options: params.get('options'),
  };
}

/**
 * libpq's rules: "prefer" when unset; with sslrootcert=system the default becomes
 * verify-full and anything weaker is refused; "require" with a CA file verifies the
 * chain (as verify-ca).
 */
function sslModeOf(value: string | undefined, sslrootcert: string | undefined): SslMode {
  if (value !== undefined && !(SSL_MODES as readonly string[]).includes(value)) {
    throw new DatabaseUrlError(`sslmode "${value}" is not supported; use one of ${SSL_MODES.join(', ')}`);
  }
  const mode = value as SslMode | undefined;
  if (sslrootcert === 'system') {
    if (mode !== undefined && mode !== 'verify-full') {
      throw new DatabaseUrlError(`sslrootcert=system needs sslmode=verify-full (or none), not "${mode}"`);
    }
    return 'verify-full';
  }
  if (mode === 'require' && sslrootcert) return 'verify-ca';
  return mode ?? 'prefer';
}

function wholeNumber(text: string, name: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new DatabaseUrlError(`${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

function decode(text: string, what: string): string {
  let value: string;
  try {
    value = decodeURIComponent(text);
  } catch {
    throw new DatabaseUrlError(`${what} is not valid percent-encoding`);
  }
  // %00 once ended application_name early on the wire and smuggled search_path past the
  // parameter list; no value has a use for a control character.
  if (CONTROL.test(value)) {
    throw new DatabaseUrlError(`${what} holds a control character (such as %00, %0A or %7F), which no value may hold`);
  }
  return value;
}

/** The target as people may see it: no password, whatever form the URL had. */
export function describeDatabaseTarget(target: DatabaseTarget): string {
  const user = target.user ? `${encodeURIComponent(target.user)}${target.password ? ':***' : ''}@` : '';
  const database = encodeURIComponent(target.database ?? '');
  if (target.socketDir) return `postgres://${user}/${database}?host=${target.socketDir}&port=${target.port}`;
  const host = target.host?.includes(':') ? `[${target.host}]` : target.host;
  return `postgres://${user}${host}:${target.port}/${database}?sslmode=${target.sslmode}`;
}
