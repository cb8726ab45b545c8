// Fixes postgres.js 3.4.9's write scheduler in node_modules; `npm ci` runs it (postinstall)
// and so does the Dockerfile, whose production install skips install scripts.
//
//   node deploy/postgres-driver-fix.mjs [project directory, default: the current one]
//
// The driver holds small writes for one turn of the event loop (`write` schedules
// `nextWrite` with setImmediate). Its two teardown paths, `terminate()` and `closed()`,
// cancel that flush but keep both the pending bytes and the cancelled timer, so every later
// write of the connection is appended to stale bytes and never flushed: its next
// connection's startup message too, which then fails with CONNECT_TIMEOUT at every connect
// timeout until about 1 KB has piled up. The fix drops both with the socket, on the same
// line, so the driver's stack traces keep their line numbers. docs/driver-workarounds.md
// has the evidence; test/db/driver-write-fix.test.ts forces the interleaving.
//
// Plain JavaScript with no imports of the project's: it runs inside `npm ci`, before
// anything else is there. All or nothing: when any build's text is not what 3.4.9 has, it
// changes no file and fails, naming the file, so that a driver upgrade is checked by hand.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

// The same text as DRIVER_FIX_MARKER in src/db/driver-write-fix.ts, which the daemon checks.
const MARKER = '/* luma-guest-sync: write-scheduler fix, docs/driver-workarounds.md */';
const UNFIXED = '\n    clearImmediate(nextWriteTimer)\n';
const FIXED = `\n    clearImmediate(nextWriteTimer), chunk = nextWriteTimer = null ${MARKER}\n`;
const BUILDS = ['src', 'cjs/src', 'cf/src'];

const driver = join(resolve(process.argv[2] ?? process.cwd()), 'node_modules', 'postgres');
if (!existsSync(join(driver, 'package.json'))) {
  fail(`postgres (postgres.js) is not installed at ${driver}: run this after npm ci`);
}
const { version } = JSON.parse(readFileSync(join(driver, 'package.json'), 'utf8'));

const toWrite = [];
for (const build of BUILDS) {
  const file = join(driver, build, 'connection.js');
  const text = readFileSync(file, 'utf8');
  const unfixed = text.split(UNFIXED).length - 1;
  const fixed = text.split(MARKER).length - 1;
  if (fixed === 2 && unfixed === 0) continue;
  if (fixed === 0 && unfixed === 2) {
    toWrite.push({ file, text: text.replaceAll(UNFIXED, FIXED) });
    continue;
  }
  fail(
    `postgres.js ${version}, ${file}: its teardown paths are not as in 3.4.9 ` +
      `(${unfixed} unfixed, ${fixed} fixed, 2 expected). Check whether this version still keeps a ` +
      'cancelled write after a close (docs/driver-workarounds.md, "A socket closed while a statement\'s ' +
      'bytes wait to be written"), then update or remove deploy/postgres-driver-fix.mjs. No file was changed.',
  );
}
for (const { file, text } of toWrite) writeFileSync(file, text);
console.log(
  toWrite.length === 0
    ? `postgres.js ${version}: write-scheduler fix already applied`
    : `postgres.js ${version}: write-scheduler fix applied, fixed ${toWrite.length} files`,
);

function fail(message) {
  console.error(`postgres-driver-fix: ${message}`);
  process.exit(1);
}
