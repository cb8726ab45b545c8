/**
 * The errors of a statement a database limit stopped (database-limits.ts), one by one;
 * test/db/role-settings.test.ts runs them for real, as settings of the worker's role.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Db } from '../../src/db/client.ts';
import { DatabaseLimitError, during, explainLimit, limitKindOf } from '../../src/db/database-limits.ts';
import { errorKind, isContention, isPermanent } from '../../src/errors.ts';

const server = (code: string, message: string) => Object.assign(new Error(message), { name: 'PostgresError', code });
/** As Drizzle wraps a failed statement: the server's error is the cause. */
const wrapped = (cause: Error) => new Error('Failed query: SELECT …', { cause });
const answering = (rows: unknown[]) => ({ execute: async () => rows }) as unknown as Db;

describe('a statement a database limit stopped', () => {
  it('is told by its SQLSTATE, through a wrapper; 57014 by its text (a timeout, or a cancel on request)', () => {
    assert.equal(
      limitKindOf(wrapped(server('57014', 'canceling statement due to statement timeout'))),
      'statement_timeout',
    );
    assert.equal(limitKindOf(server('57014', 'canceling statement due to user request')), 'query_canceled');
    assert.equal(limitKindOf(server('55P03', 'canceling statement due to lock timeout')), 'lock_timeout');
    assert.equal(limitKindOf(server('40001', 'could not serialize access')), 'serialization_failure');
    assert.equal(limitKindOf(server('40P01', 'deadlock detected')), 'deadlock');
    assert.equal(limitKindOf(server('25006', 'cannot execute INSERT in a read-only transaction')), 'read_only');
    assert.equal(limitKindOf(server('23505', 'duplicate key')), undefined);
    assert.equal(limitKindOf(new Error('canceling statement due to statement timeout')), undefined, 'not the server');
    // The cause chain is followed four wrappers deep, no further, and a cycle ends the search.
    const deep = (levels: number) => {
      let err: Error = server('55P03', 'canceling statement due to lock timeout');
      for (let i = 0; i < levels; i++) err = wrapped(err);
      return err;
    };
    assert.equal(limitKindOf(deep(4)), 'lock_timeout');
    assert.equal(limitKindOf(deep(5)), undefined);
    const cycle: Error = new Error('a');
    cycle.cause = new Error('b', { cause: cycle });
    assert.equal(limitKindOf(cycle), undefined);
  });

  it('becomes, within a stage, a retryable error of its kind naming the stage; contention only for other sessions', async () => {
    // Before explainLimit reads the setting, each message opens with what stopped the stage.
    const kinds = [
      [
        '57014',
        'canceling statement due to statement timeout',
        'statement_timeout',
        false,
        /^statement_timeout cancelled stale removal: /,
      ],
      [
        '55P03',
        'canceling statement due to lock timeout',
        'lock_timeout',
        true,
        /^lock_timeout ran out: stale removal waited/,
      ],
      [
        '40001',
        'could not serialize access',
        'serialization_failure',
        true,
        /^stale removal met a concurrent update it could not serialize under default_transaction_isolation: /,
      ],
      ['40P01', 'deadlock detected', 'deadlock', true, /^stale removal was ended as the victim of a deadlock/],
      [
        '25006',
        'cannot execute INSERT in a read-only transaction',
        'read_only',
        false,
        /^stale removal was refused by a read-only server \(a hot standby or read replica, a primary demoted in a failover, or default_transaction_read_only on\); .*\. DATABASE_URL must lead to the primary/,
      ],
      [
        '57014',
        'canceling statement due to user request',
        'query_canceled',
        false,
        /^stale removal was cancelled on request/,
      ],
    ] as const;
    for (const [code, text, kind, contention, opening] of kinds) {
      const cause = wrapped(server(code, text));
      const err = await during('stale removal', () => Promise.reject(cause)).catch((e: unknown) => e);
      assert.ok(err instanceof DatabaseLimitError, kind);
      assert.equal(err.name, 'DatabaseLimitError');
      assert.match(err.message, opening);
      assert.equal(errorKind(err), kind);
      assert.equal(isContention(err), contention, kind);
      assert.equal(isPermanent(err), false);
      assert.equal(err.stage, 'stale removal');
      assert.equal(err.cause, cause);
      assert.match(err.message, /stale removal/);
      assert.match(err.message, /nothing of it was written, and a later attempt repeats it/);
    }
  });

  it('passes other errors, and an inner stage’s, through unchanged; resolves with the stage’s value', async () => {
    const other = new Error('connection reset');
    assert.equal(await during('x', () => Promise.reject(other)).catch((e: unknown) => e), other);
    const inner = new DatabaseLimitError('lock_timeout', 'stale removal', undefined, server('55P03', 'lock'));
    assert.equal(await during('the finish', () => Promise.reject(inner)).catch((e: unknown) => e), inner);
    assert.equal(await during('x', async () => 7), 7);
    assert.equal(isContention(other), false);
    assert.equal(isContention(null), false);
  });

  it("quotes the setting's value and where it was set, once explained; a failed lookup keeps the error", async () => {
    const timeout = new DatabaseLimitError(
      'statement_timeout',
      'the page statement of page 2',
      undefined,
      server('57014', 't'),
    );
    const sources = [
      ['user', "set for the worker's role"],
      ['database', 'set for the database'],
      ['configuration file', "set in the server's configuration"],
      ['default', '(source: default)'],
    ];
    for (const [source, said] of sources) {
      const told = (await explainLimit(answering([{ value: '1s', source }]), timeout)) as DatabaseLimitError;
      assert.ok(told.message.startsWith(`statement_timeout (1s) ${said} cancelled the page statement of page 2: `));
      assert.equal(told.kind, 'statement_timeout');
      assert.equal(told.cause, timeout.cause);
    }
    const serialization = new DatabaseLimitError(
      'serialization_failure',
      'the finish',
      undefined,
      server('40001', 's'),
    );
    const isolation = (await explainLimit(
      answering([{ value: 'repeatable read', source: 'user' }]),
      serialization,
    )) as Error;
    assert.match(
      isolation.message,
      /default_transaction_isolation \(repeatable read\) set for the worker's role: the worker needs read committed/,
    );
    const lock = new DatabaseLimitError(
      'lock_timeout',
      'taking the claim of the event',
      undefined,
      server('55P03', 'l'),
    );
    assert.match(
      ((await explainLimit(answering([{ value: '200ms', source: 'user' }]), lock)) as Error).message,
      /^lock_timeout \(200ms\) set for the worker's role ran out: taking the claim of the event waited/,
    );

    const failing = { execute: async () => Promise.reject(new Error('gone')) } as unknown as Db;
    assert.equal(await explainLimit(failing, timeout), timeout);
    assert.equal(await explainLimit(answering([]), timeout), timeout);
    const deadlock = new DatabaseLimitError('deadlock', 'the finish', undefined, server('40P01', 'd'));
    assert.equal(
      await explainLimit(answering([{ value: 'x', source: 'user' }]), deadlock),
      deadlock,
      'no setting behind it',
    );
    const other = new Error('other');
    assert.equal(await explainLimit(answering([]), other), other);
  });

  it('a read-only refusal, once explained, says whether the server is a standby or the setting is on, and what to do', async () => {
    const refused = new DatabaseLimitError(
      'read_only',
      'the page statement of page 2',
      undefined,
      server('25006', 'r'),
    );
    const standby = (await explainLimit(
      answering([{ value: 'off', source: 'default', standby: true }]),
      refused,
    )) as DatabaseLimitError;
    assert.equal(standby.kind, 'read_only');
    assert.equal(standby.contention, false);
    assert.equal(standby.cause, refused.cause);
    assert.ok(
      standby.message.startsWith(
        'the page statement of page 2 was refused by a read-only server: it is a hot standby (in recovery), so DATABASE_URL leads to a read replica or reader endpoint, or a failover is under way; nothing of it was written',
      ),
      standby.message,
    );
    assert.match(standby.message, /Point DATABASE_URL at the primary \(the writer endpoint\)/);
    for (const [source, said] of [
      ['user', "set for the worker's role"],
      ['database', 'set for the database'],
      ['configuration file', "set in the server's configuration"],
    ]) {
      const setting = (await explainLimit(
        answering([{ value: 'on', source, standby: false }]),
        refused,
      )) as DatabaseLimitError;
      assert.ok(
        setting.message.startsWith(
          `default_transaction_read_only (on) ${said} made the page statement of page 2 read-only; nothing of it was written`,
        ),
        setting.message,
      );
      assert.match(setting.message, /ALTER ROLE <worker> RESET default_transaction_read_only, or ALTER DATABASE/);
    }
    // Neither any more: the statement explaining it ran on a writable session.
    const over = (await explainLimit(
      answering([{ value: 'off', source: 'default', standby: false }]),
      refused,
    )) as DatabaseLimitError;
    assert.match(
      over.message,
      /^the page statement of page 2 was refused by a read-only server \(.*\), and the server answers writable now \(a failover that has just ended\?\); nothing of it was written/,
    );
  });
});
