/**
 * One line for people about why a command failed: the root cause, with what to do, never
 * SQL text or its parameters (Drizzle's "Failed query: select … params: …" says neither
 * what went wrong nor what to do, and parameters can be personal data).
 */
import { DrizzleQueryError } from 'drizzle-orm/errors';

const MIGRATE = 'run `luma-guest-sync db:migrate` against this database';

/** SQLSTATEs whose server message is worth showing, with the remedy to add. */
const POSTGRES_REMEDIES: Record<string, string> = {
  '42P01': MIGRATE, // undefined_table
  '42703': MIGRATE, // undefined_column
  '42704': MIGRATE, // undefined_object (an enum type)
  '42883': MIGRATE, // undefined_function (the shared rate budget)
  '42501': 'grant it (see docs/configuration.md: the privileges the worker needs)', // insufficient_privilege
  '28P01': 'check the user and password in DATABASE_URL', // invalid_password
  '28000': "check DATABASE_URL's user and the server's pg_hba.conf", // invalid_authorization_specification
  '3D000': 'check the database name in DATABASE_URL (or create it, then run db:migrate)', // invalid_catalog_name
  '53300': 'lower DATABASE_POOL_MAX or raise max_connections', // too_many_connections
  '57P03': 'the server is starting or shutting down: try again shortly', // cannot_connect_now
};

interface Cause {
  name?: string;
  code?: string;
  message?: string;
  address?: string;
  port?: number;
  hostname?: string;
  severity?: string;
}

export interface ErrorContext {
  /** The user DATABASE_URL connects as, named when a privilege is missing. */
  databaseUser?: string;
}

export function explainError(err: unknown, context: ErrorContext = {}): string {
  const chain = causes(err);
  // Already says what is wrong and what to do; its cause alone would not name DATABASE_POOLER.
  const mismatch = chain.find((e) => (e as Cause).name === 'DatabasePoolerMismatchError');
  if (mismatch) return (mismatch as Error).message;
  // Names the setting and what it stopped; its cause, the server's text, names neither.
  const limit = chain.find((e) => (e as Cause).name === 'DatabaseLimitError');
  if (limit) return (limit as Error).message;
  const viaDatabase = chain.some(
    (e) =>
      e instanceof DrizzleQueryError ||
      (e as Cause).name === 'PostgresError' ||
      (e as Cause).name === 'DatabaseProbeError',
  );
  const endpoint = endpointOf(chain, viaDatabase);
  for (const cause of chain) {
    const text = postgresError(cause, context) ?? connectionError(cause, endpoint);
    if (text) return text;
  }
  const root = chain.find((e) => !(e instanceof DrizzleQueryError)) ?? err;
  if (err instanceof DrizzleQueryError && root === err) return 'a database query failed';
  return root instanceof Error ? root.message : String(root);
}

/** The error and its causes, outermost first (bounded: a cause cycle must not hang). */
function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e: unknown = err; e !== undefined && e !== null && chain.length < 10; e = (e as Error).cause) {
    chain.push(e);
  }
  return chain;
}

/** A server's own error: its message names the table, column or privilege. */
function postgresError(e: unknown, context: ErrorContext): string | undefined {
  const cause = e as Cause;
  if (cause?.name !== 'PostgresError' || !cause.code) return undefined;
  const remedy = POSTGRES_REMEDIES[cause.code];
  const user = cause.code === '42501' && context.databaseUser ? ` to the database user "${context.databaseUser}"` : '';
  return `the database refused: ${cause.message} (SQLSTATE ${cause.code})${user}${remedy ? `: ${remedy}` : ''}`;
}

/** Which dependency a failed connection was to, and the variable that says where it is. */
interface Endpoint {
  what: string;
  variable: string;
}

function endpointOf(chain: unknown[], viaDatabase: boolean): Endpoint {
  if (viaDatabase) return { what: 'the database', variable: 'DATABASE_URL' };
  if (chain.some((e) => (e as Cause).name === 'LumaError')) return { what: 'Luma', variable: 'LUMA_API_URL' };
  // The AWS SDK's errors carry $metadata; the SQS client is the only AWS client here.
  if (chain.some((e) => typeof e === 'object' && e !== null && '$metadata' in e)) {
    return { what: 'SQS', variable: 'AWS_ENDPOINT_URL_SQS (or AWS_REGION)' };
  }
  return { what: 'a server', variable: 'the endpoint' };
}

/** A socket that could not be opened: where to, and why, in words, naming the variable to check. */
function connectionError(e: unknown, endpoint: Endpoint): string | undefined {
  const cause = e as Cause;
  const { what, variable } = endpoint;
  const where = cause.port ? `${cause.address}:${cause.port}` : cause.address;
  const at = where ? ` at ${where}` : '';
  switch (cause?.code) {
    case 'ECONNREFUSED':
      if (cause.address?.startsWith('/')) return socketMissing(cause.address);
      return `cannot connect to ${what}${at}: connection refused — is it running there? Check ${variable}`;
    case 'ENOENT':
      return cause.address?.startsWith('/') ? socketMissing(cause.address) : undefined;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot connect to ${what}: host ${cause.hostname ? `"${cause.hostname}" ` : ''}not found in DNS — check ${variable}`;
    case 'ETIMEDOUT':
    case 'CONNECT_TIMEOUT':
      return `cannot connect to ${what}${at}: timed out — check the host and port in ${variable}, and the firewall`;
    case 'EACCES':
      return cause.address ? `cannot connect to ${what}: permission denied on ${cause.address}` : undefined;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'CERT_HAS_EXPIRED':
      return endpoint.variable === 'DATABASE_URL'
        ? `the database server's TLS certificate was refused (${cause.code}): check sslmode and sslrootcert in DATABASE_URL`
        : `${what}'s TLS certificate was refused (${cause.code}): check ${variable}`;
    default:
      return undefined;
  }
}

function socketMissing(path: string): string {
  return `cannot connect to the database: no PostgreSQL server socket at ${path} — check the host= directory and port in DATABASE_URL`;
}
