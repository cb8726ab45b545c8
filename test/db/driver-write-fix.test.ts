/**
 * postgres.js 3.4.9 holds a statement's bytes for one turn of the event loop before it
 * writes them (its `write` schedules the flush with setImmediate). When the socket's close
 * is handled in that turn, the driver cancels the flush but keeps the bytes and the
 * cancelled timer: every later write of that connection object is appended to them and
 * never flushed, its next connection's startup message included. That connection then
 * fails with CONNECT_TIMEOUT after every connect timeout, until about 1 KB has piled up.
 * deploy/postgres-driver-fix.mjs, run by `npm ci` (postinstall) and by the Dockerfile,
 * makes the driver drop both with the socket (docs/driver-workarounds.md).
 *
 * The first case forces that interleaving on the installed driver: the socket (ours,
 * through the driver's `socket` option) is destroyed right after a statement is queued,
 * in a turn whose close callbacks run before the flush.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  driverFixesApplied,
  installedDriverDir,
  LOST_STATEMENT_FIX_MARKER,
  WRITE_SCHEDULER_FIX_MARKER,
  warnWithoutDriverFixes,
} from '../../src/db/driver-fixes.ts';
import { createTestDatabase } from '../support/db.ts';
import { within } from '../support/faults.ts';
import { poolWithOwnSockets } from '../support/own-socket-pool.ts';
import { databaseRoutes } from '../support/pgbouncer.ts';

const database = await createTestDatabase({ label: 'driver_write_fix', migrate: false });

const FIX_SCRIPT = fileURLToPath(new URL('../../deploy/postgres-driver-fix.mjs', import.meta.url));
const BUILDS = ['src', 'cjs/src', 'cf/src'];

describe("postgres.js's write scheduler, with deploy/postgres-driver-fix.mjs applied", () => {
  for (const { route, url, pooler } of databaseRoutes(database)) {
    const behindPooler = pooler === 'transaction';
    it(`${route}: a connection whose socket closed with a statement still unwritten starts its next connection at once`, async () => {
      const { sql, sockets, writes } = poolWithOwnSockets(url(), behindPooler);
      await sql`SELECT 1`;
      const first = sockets[0]!;

      // Queued from an immediate, the statement's flush falls to the next turn of the event
      // loop; the socket destroyed in the same turn is closed in this turn's close phase.
      const writesBefore = writes.get(first);
      const { lost } = await new Promise<{ lost: Promise<unknown> }>((resolve) =>
        setImmediate(async () => {
          const statement = sql`SELECT 2`.execute();
          // The driver queues a statement one microtask after it is made.
          for (let turn = 0; turn < 3; turn++) await null;
          first.destroy();
          resolve({ lost: statement });
        }),
      );
      await assert.rejects(lost, (err: { code?: string }) => err.code === 'CONNECTION_CLOSED');
      assert.equal(writes.get(first), writesBefore, 'the statement was still unwritten when its socket closed');

      // Unfixed, this fails with CONNECT_TIMEOUT after the 10 s connect timeout.
      const answer = await within('the next statement to be answered', sql<{ n: number }[]>`SELECT 3 AS n`);
      assert.equal(answer[0]?.n, 3);
      assert.equal(sockets.length, 2, 'one new connection served it');
      assert.ok((writes.get(sockets[1]!) ?? 0) > 0, 'the new connection wrote its startup message');
    });
  }

  it('is applied to every build of the installed driver', () => {
    const driver = installedDriverDir();
    for (const build of BUILDS) {
      const text = readFileSync(join(driver, build, 'connection.js'), 'utf8');
      assert.equal(
        text.split(WRITE_SCHEDULER_FIX_MARKER).length - 1,
        2,
        `${build}/connection.js has both teardown paths fixed`,
      );
      assert.equal(text.split(LOST_STATEMENT_FIX_MARKER).length - 1, 1, `${build}/connection.js has its close fixed`);
    }
    assert.equal(driverFixesApplied(driver), true);
  });
});

describe('deploy/postgres-driver-fix.mjs', () => {
  const LOST_UNFIXED =
    "    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))";
  const LOST_FIXED = `    if (query || sent.length) error(Errors.connection('CONNECTION_CLOSED', options, socket)), query = null; ended && (ended(), ending = ended = null) ${LOST_STATEMENT_FIX_MARKER}`;

  /**
   * A project directory holding a copy of the installed driver with the fixes taken out
   * again; with `keepWriteFix`, as the earlier script (the write fix alone) left it.
   */
  function unfixedProject({ keepWriteFix = false } = {}): string {
    const root = mkdtempSync(join(tmpdir(), 'lgs-driver-fix-'));
    after(() => rmSync(root, { recursive: true, force: true }));
    const copy = join(root, 'node_modules', 'postgres');
    cpSync(installedDriverDir(), copy, { recursive: true });
    for (const build of BUILDS) {
      const file = join(copy, build, 'connection.js');
      const fixed = readFileSync(file, 'utf8');
      const withoutLost = fixed.replaceAll(LOST_FIXED, LOST_UNFIXED);
      const unfixed = keepWriteFix
        ? withoutLost
        : withoutLost.replaceAll(`, chunk = nextWriteTimer = null ${WRITE_SCHEDULER_FIX_MARKER}`, '');
      assert.ok(
        withoutLost !== fixed && unfixed.includes(LOST_UNFIXED),
        `${build}/connection.js had the fixes to take out`,
      );
      writeFileSync(file, unfixed);
    }
    return root;
  }

  function runFix(root: string) {
    return spawnSync(process.execPath, [FIX_SCRIPT, root], { encoding: 'utf8' });
  }

  it('fixes both teardown paths of every build, keeps every line where it was, and is a no-op the second time', () => {
    const root = unfixedProject();
    const driver = join(root, 'node_modules', 'postgres');
    assert.equal(driverFixesApplied(driver), false);
    const lines = readFileSync(join(driver, 'src', 'connection.js'), 'utf8').split('\n').length;

    const first = runFix(root);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /fixed 3 files/);
    assert.equal(driverFixesApplied(driver), true);
    const fixed = readFileSync(join(driver, 'src', 'connection.js'), 'utf8');
    // The driver's stack traces keep their line numbers (driver-rejections.ts reads its frames).
    assert.equal(fixed.split('\n').length, lines);
    assert.ok(
      fixed === readFileSync(join(installedDriverDir(), 'src', 'connection.js'), 'utf8'),
      'the same text as the installed, fixed driver',
    );

    const second = runFix(root);
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /already applied/);
    assert.ok(readFileSync(join(driver, 'src', 'connection.js'), 'utf8') === fixed, 'unchanged the second time');
  });

  it('is what the daemon warns of at start when it is missing, and only then', () => {
    const warnings: Array<{ fields: object; message: string }> = [];
    const log = { warn: (fields: object, message: string) => warnings.push({ fields, message }) };
    assert.equal(warnWithoutDriverFixes(log), true);
    assert.equal(warnings.length, 0);
    const unfixed = join(unfixedProject(), 'node_modules', 'postgres');
    assert.equal(warnWithoutDriverFixes(log, unfixed), false);
    assert.equal(warnings.length, 1);
    assert.deepEqual(warnings[0]?.fields, { driver: unfixed }, 'names the driver it looked at');
    assert.match(
      warnings[0]?.message ?? '',
      /fixes \(write scheduler, lost statement\) are not applied: run `node deploy\/postgres-driver-fix.mjs`/,
    );
    // A driver that cannot be read counts as unfixed: the daemon warns and runs on.
    assert.equal(driverFixesApplied(join(unfixed, 'no-such-directory')), false);
  });

  it('fails, naming the file and what to check, on a driver whose text it does not know', () => {
    const root = unfixedProject();
    const file = join(root, 'node_modules', 'postgres', 'cjs', 'src', 'connection.js');
    writeFileSync(file, readFileSync(file, 'utf8').replaceAll('clearImmediate(nextWriteTimer)', 'clearTimer()'));
    const result = runFix(root);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /cjs[/\\]src[/\\]connection\.js/);
    assert.match(result.stderr, /docs\/driver-workarounds\.md/);
    // Nothing half done: the files it could fix stay as they were.
    assert.equal(driverFixesApplied(join(root, 'node_modules', 'postgres')), false);
    const untouched = readFileSync(join(root, 'node_modules', 'postgres', 'src', 'connection.js'), 'utf8');
    assert.equal(untouched.includes(WRITE_SCHEDULER_FIX_MARKER), false, 'src/connection.js left unfixed');
  });

  it('completes a driver that the earlier script fixed (the write scheduler alone)', () => {
    const root = unfixedProject({ keepWriteFix: true });
    const driver = join(root, 'node_modules', 'postgres');
    assert.equal(driverFixesApplied(driver), false, 'the lost-statement fix is missing');
    const result = runFix(root);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /fixed 3 files/);
    assert.ok(
      readFileSync(join(driver, 'src', 'connection.js'), 'utf8') ===
        readFileSync(join(installedDriverDir(), 'src', 'connection.js'), 'utf8'),
      'the same text as the installed, fixed driver',
    );
  });

  it("fails, naming the fix, when one fix's lines are not 3.4.9's, and changes nothing", () => {
    const root = unfixedProject();
    const file = join(root, 'node_modules', 'postgres', 'src', 'connection.js');
    writeFileSync(file, readFileSync(file, 'utf8').replace(LOST_UNFIXED, `${LOST_UNFIXED} // changed upstream`));
    const result = runFix(root);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /lost-statement fix/);
    assert.match(result.stderr, /src[/\\]connection\.js/);
    const cjs = readFileSync(join(root, 'node_modules', 'postgres', 'cjs', 'src', 'connection.js'), 'utf8');
    assert.equal(cjs.includes(WRITE_SCHEDULER_FIX_MARKER), false, 'no build was fixed, not even the write scheduler');
  });

  it('fails, saying so, where no driver is installed', () => {
    const root = mkdtempSync(join(tmpdir(), 'lgs-driver-fix-'));
    after(() => rmSync(root, { recursive: true, force: true }));
    const result = runFix(root);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /postgres.*not installed/);
  });
});
