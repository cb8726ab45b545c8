import type { Pooler } from './client.ts';

/** How long the server lets one of the worker's sessions sit idle inside a transaction. */
export const DEFAULT_IDLE_IN_TRANSACTION_SECONDS = 60;

/**
 * The settings the worker's connections start with, beyond time zone and name.
 *
 * On a direct connection (DATABASE_POOLER=none), `idle_in_transaction_session_timeout`:
 * the worker's transactions never wait on the worker (each is a few statements sent
 * together), so a session idle inside one belongs to a process that stopped — paused,
 * partitioned, its host lost — and may hold a claim's row lock (claim.ts) that every
 * takeover of the event waits on. The server ends such a session after this bound
 * instead of keeping it until TCP notices, which can take hours. It replaces a value the
 * role carries (a client's startup setting outranks ALTER ROLE … SET; docs/security.md).
 *
 * And `default_transaction_isolation = read committed`, whatever the role says: the claim's
 * fence (claim.ts) relies on an UPDATE that waits for a concurrent writer of the claim's
 * row, the sync's own renewal included, and re-checks the row it then finds; under
 * repeatable read or serializable that UPDATE fails with a serialization error instead,
 * which failed pages and finishes (test/db/role-settings.test.ts). Read committed is also
 * what the push refresh's gathering locks need: its statements see what the refresh it
 * waited for committed. Transactions name it too (transaction.ts), for the pooled case.
 *
 * Behind a transaction-mode pooler nothing is sent: PgBouncer refuses startup settings it
 * does not know, and its own idle_transaction_timeout is the bound there (docs/poolers.md).
 * That refusal also tells an operator who left DATABASE_POOLER=none in front of one what
 * is wrong, at start (probe.ts), instead of failing statements later.
 */
export function sessionSettings(
  pooler: Pooler | undefined,
  idleInTransactionSeconds = DEFAULT_IDLE_IN_TRANSACTION_SECONDS,
): Record<string, string> {
  if (pooler === 'transaction') return {};
  return {
    idle_in_transaction_session_timeout: String(Math.round(idleInTransactionSeconds * 1000)),
    default_transaction_isolation: 'read committed',
  };
}

/** The server's answer to a startup setting a transaction-mode pooler does not carry. */
export function isRefusedStartupSetting(err: unknown): boolean {
  return /unsupported startup parameter/i.test(String((err as Error)?.message ?? err));
}
