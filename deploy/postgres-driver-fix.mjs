// Fixes two faults of postgres.js 3.4.9's connection in node_modules; `npm ci` runs it
// (postinstall) and so does the Dockerfile, whose production install skips install scripts.
//
//   node deploy/postgres-driver-fix.mjs [project directory, default: the current one]
//
// 1. The write scheduler. The driver holds small writes for one turn of the event loop
//    (`write` schedules `nextWrite` with setImmediate). Its two teardown paths, `terminate()`
//    and `closed()`, cancel that flush but keep both the pending bytes and the cancelled
//    timer, so every later write of the connection is appended to stale bytes and never
//    flushed: its next connection's startup message too, which then fails with
//    CONNECT_TIMEOUT at every connect timeout until about 1 KB has piled up. Fixed by
//    dropping both with the socket. test/db/driver-write-fix.test.ts forces it.
// 2. The lost statement. A statement handed to a connection between its socket's 'error'
//    and 'close' events (Node emits the close a phase later; the connection is still idle
//    in the pool) is kept as in flight, and `closed()` fails nothing when the socket closed
//    with an error (`!hadError && …`): the statement never settles, and every later
//    statement of that connection waits behind it. Fixed by failing whatever is still in
//    flight at the close, error or not (a statement the error event already failed is
//    settled, and fails no second time), and forgetting it: the driver forgets its statement
//    in flight only at the next ReadyForQuery. With it, a connection being ended (`end()`
//    with a statement in flight waits for that ReadyForQuery) is ended by its close, which
//    no ReadyForQuery will follow: the pool's end waited for its whole timeout.
//    test/db/driver-lost-statement.test.ts forces both.
//
// Each change stays on its line, so the driver's stack traces keep their line numbers.
// docs/driver-workarounds.md has the evidence. Plain JavaScript with no imports of the
// project's: it runs inside `npm ci`, before anything else is there. All or nothing: when
// any build's text is not what 3.4.9 has, it changes no file and fails, naming the file and
// the fix, so that a driver upgrade is checked by hand.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

// The same texts as the markers in src/db/driver-fixes.ts, which the daemon checks.
const WRITE_MARKER = '/* luma-guest-sync: write-scheduler fix, docs/driver-workarounds.md */';
const LOST_MARKER = '/* luma-guest-sync: lost-statement fix, docs/driver-workarounds.md */';
const CLOSED_CALL = "error(Errors.connection('CONNECTION_CLOSED', options, socket))";
const FIXES = [
  {
    name: 'write-scheduler',
    title: "A socket closed while a statement's bytes wait to be written",
    marker: WRITE_MARKER,
    unfixed: '\n    clearImmediate(nextWriteTimer)\n',
    fixed: `\n    clearImmediate(nextWriteTimer), chunk = nextWriteTimer = null ${WRITE_MARKER}\n`,
    lines: 2,
  },
  {
    name: 'lost-statement',
    title: "A statement handed to a connection between its socket's `error` and `close` events",
    marker: LOST_MARKER,
    unfixed: `\n    !hadError && (query || sent.length) && ${CLOSED_CALL}\n`,
    // An `if`, not a line opening with `(`: the line before is `return reconnect()`, and
    // JavaScript would call its result with the parenthesis instead of ending the statement.
    fixed: `\n    if (query || sent.length) ${CLOSED_CALL}, query = null; ended && (ended(), ending = ended = null) ${LOST_MARKER}\n`,
    lines: 1,
  },
];
const BUILDS = ['src', 'cjs/src', 'cf/src'];

const driver = join(resolve(process.argv[2] ?? process.cwd()), 'node_modules', 'postgres');
if (!existsSync(join(driver, 'package.json'))) {
  fail(`postgres (postgres.js) is not installed at ${driver}: run this after npm ci`);
}
const { version } = JSON.parse(readFileSync(join(driver, 'package.json'), 'utf8'));

const toWrite = [];
for (const build of BUILDS) {
  const file = join(driver, build, 'connection.js');
  let text = readFileSync(file, 'utf8');
  let changed = false;
  for (const fix of FIXES) {
    const unfixed = text.split(fix.unfixed).length - 1;
    const fixed = text.split(fix.marker).length - 1;
    if (fixed === fix.lines && unfixed === 0) continue;
    if (fixed === 0 && unfixed === fix.lines) {
      text = text.replaceAll(fix.unfixed, fix.fixed);
      changed = true;
      continue;
    }
    fail(
      `postgres.js ${version}, ${file}: the lines of the ${fix.name} fix are not as in 3.4.9 ` +
        `(${unfixed} unfixed, ${fixed} fixed, ${fix.lines} expected). Check whether this version still has ` +
        `the fault (docs/driver-workarounds.md, "${fix.title}"), then update or remove ` +
        'deploy/postgres-driver-fix.mjs. No file was changed.',
    );
  }
  if (changed) toWrite.push({ file, text });
}
for (const { file, text } of toWrite) writeFileSync(file, text);
const names = FIXES.map((fix) => fix.name).join(' and ');
console.log(
  toWrite.length === 0
    ? `postgres.js ${version}: ${names} fixes already applied`
    : `postgres.js ${version}: ${names} fixes applied, fixed ${toWrite.length} files`,
);

function fail(message) {
  console.error(`postgres-driver-fix: ${message}`);
  process.exit(1);
}
