/**
 * whileAnswering (src/sync/database-silence.ts) on its own, against a real PostgreSQL: a
 * wait the database answers through is never cut short, however long; a database gone
 * silent (the link frozen) ends the wait within about a bound; and a stall of the worker's
 * own process longer than the bound, while the database answers, is not its silence.
 * The sync-level uses: test/faults/frozen-*.test.ts.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createDatabase } from '../../src/db/client.ts';
import { DatabaseSilentError, whileAnswering } from '../../src/sync/database-silence.ts';
import { createTestDatabase } from '../support/db.ts';
import { blockedBy, holdInTransaction, until, within } from '../support/faults.ts';
import { poolThroughFreezableLink } from '../support/freezable-link.ts';
import { recordDuringEachCase } from '../support/uncaught.ts';

const database = await createTestDatabase({ label: 'database_silence', migrate: false });
await database.sql.unsafe('CREATE TABLE public.held (n integer PRIMARY KEY)');
await database.sql.unsafe('INSERT INTO public.held VALUES (1)');

const SILENCE_MS = 1_500;

/** Every rejection no one handled while a case ran: the probes' own bookkeeping must throw none. */
const unhandled = recordDuringEachCase('unhandledRejection');
afterEach(() => {
  assert.deepEqual(unhandled.map(String), [], 'no rejection left unhandled');
});

/** Blocks this whole process, as a starved machine, a long GC pause or a paused container does. */
function stallProcess(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The held row's lock taken by the test; `work` waits on it until released. */
async function lockedRow() {
  const lock = await holdInTransaction(database.sql, (tx) => tx`SELECT 1 FROM public.held WHERE n = 1 FOR UPDATE`);
  return lock;
}

describe('whileAnswering', () => {
  it('a wait the database answers through, three bounds long: waited for to its end', async () => {
    const { handle } = await poolThroughFreezableLink(database.url, 2);
    const lock = await lockedRow();
    const work = handle.sql`UPDATE public.held SET n = 1 WHERE n = 1`.then(() => 'done');
    await until('the statement to wait on the lock', async () => (await blockedBy(database.sql, lock.pid)) === 1);
    setTimeout(() => lock.release(), 3 * SILENCE_MS);
    assert.equal(
      await within('the wait', whileAnswering(handle.db, { silenceMs: SILENCE_MS, stage: 'the test' }, work)),
      'done',
    );
  });

  it('a database gone silent: the wait ends with DatabaseSilentError naming the stage, within about a bound', async () => {
    const { handle, link } = await poolThroughFreezableLink(database.url, 2);
    await Promise.all([handle.sql`SELECT 1`, handle.sql`SELECT 1`]);
    link.freeze();
    const work = handle.sql`SELECT 1`.then(() => 'answered');
    const started = performance.now();
    const err = await within(
      'the wait to end',
      whileAnswering(handle.db, { silenceMs: SILENCE_MS, stage: 'the test stage' }, work).then(
        (value) => assert.fail(`answered: ${value}`),
        (e: unknown) => e,
      ),
    );
    assert.ok(err instanceof DatabaseSilentError, String(err));
    assert.equal(err.name, 'DatabaseSilentError');
    assert.equal(err.kind, 'database_silent', 'retryable, and counted as its own kind');
    assert.equal(err.stage, 'the test stage');
    assert.match(err.message, /did not answer the test stage: no probe of the database was answered for 1.5 s/);
    // A lower bound only: a busy machine can only make it later.
    assert.ok(performance.now() - started >= SILENCE_MS, 'not before a whole bound of silence');
    link.thaw();
  });

  /**
   * The wait on a lock while the database answers, the whole process blocked for two
   * bounds once, where `placeStall` puts it after a probe is asked for; then the lock goes
   * a bound later, and the wait must reach its end.
   */
  async function stalledOnce(placeStall: (stall: () => void) => void) {
    let armed = false;
    let stalled = false;
    const stall = () => {
      stalled = true;
      stallProcess(2 * SILENCE_MS);
    };
    const handle = createDatabase({
      url: database.url,
      poolMax: 2,
      onQuery: (query) => {
        if (!armed || query.trim() !== 'SELECT 1') return;
        armed = false;
        placeStall(stall);
      },
    });
    try {
      const lock = await lockedRow();
      const work = handle.sql`UPDATE public.held SET n = 1 WHERE n = 1`.then(() => 'done');
      await until('the statement to wait on the lock', async () => (await blockedBy(database.sql, lock.pid)) === 1);
      armed = true;
      const waited = whileAnswering(handle.db, { silenceMs: SILENCE_MS, stage: 'the test' }, work);
      await until('the stall to have happened', () => stalled);
      setTimeout(() => lock.release(), SILENCE_MS);
      assert.equal(await within('the wait', waited), 'done');
    } finally {
      await handle.close();
    }
  }

  it('the worker stalled for two bounds as a probe goes out (before its write), the database answering: not silence', async () => {
    // Queued before the driver's own write of the probe: the probe waits out the stall unsent.
    await stalledOnce((stall) => setImmediate(stall));
  });

  it('the worker stalled for two bounds between probes, the database answering: not silence', async () => {
    // A tenth of a bound after a probe went out: on a loopback database it was answered.
    await stalledOnce((stall) => setTimeout(stall, SILENCE_MS / 10));
  });

  it('on a pool of one connection: no probe, the work waited for as it is', async () => {
    const sent: string[] = [];
    const handle = createDatabase({ url: database.url, poolMax: 1, onQuery: (query) => sent.push(query.trim()) });
    try {
      const work = new Promise<string>((resolve) => setTimeout(() => resolve('done'), 2 * SILENCE_MS));
      assert.equal(await whileAnswering(handle.db, { silenceMs: SILENCE_MS, stage: 'the test' }, work), 'done');
      assert.deepEqual(sent, [], 'no probe sent');
    } finally {
      await handle.close();
    }
  });
});
