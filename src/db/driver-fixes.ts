import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Written by deploy/postgres-driver-fix.mjs beside each line it changes in postgres.js
 * 3.4.9's connection.js (docs/driver-workarounds.md), with how many lines each fix changes:
 * - the write scheduler: a socket closed with a write still pending leaves the connection
 *   unable to write again until about 1 KB piles up (both teardown paths);
 * - the lost statement: a statement sent between a socket's error and its close never
 *   settles, and the connection's later statements wait behind it (the close).
 */
export const WRITE_SCHEDULER_FIX_MARKER = '/* luma-guest-sync: write-scheduler fix, docs/driver-workarounds.md */';
export const LOST_STATEMENT_FIX_MARKER = '/* luma-guest-sync: lost-statement fix, docs/driver-workarounds.md */';
export const DRIVER_FIXES: ReadonlyArray<{ marker: string; lines: number }> = [
  { marker: WRITE_SCHEDULER_FIX_MARKER, lines: 2 },
  { marker: LOST_STATEMENT_FIX_MARKER, lines: 1 },
];

/** The directory of the postgres.js this process loads. */
export function installedDriverDir(): string {
  // .../node_modules/postgres/src/index.js
  return dirname(dirname(fileURLToPath(import.meta.resolve('postgres'))));
}

/**
 * Whether the driver build the worker loads (its ES modules, `src/`) carries every fix on
 * every line it changes. False too when the file cannot be read: the daemon only warns on it.
 */
export function driverFixesApplied(driverDir: string = installedDriverDir()): boolean {
  try {
    const text = readFileSync(join(driverDir, 'src', 'connection.js'), 'utf8');
    return DRIVER_FIXES.every(({ marker, lines }) => text.split(marker).length - 1 === lines);
  } catch {
    return false;
  }
}

/**
 * Tells the log, once at start, when a fix is missing (an install with `--ignore-scripts`,
 * an image built without the Dockerfile's step): the worker runs, but a connection closed
 * at the wrong moment stays unable to connect for minutes, or a statement hangs for good.
 */
export function warnWithoutDriverFixes(
  log: { warn: (fields: object, message: string) => void },
  driverDir: string = installedDriverDir(),
): boolean {
  if (driverFixesApplied(driverDir)) return true;
  log.warn(
    { driver: driverDir },
    "the database driver's fixes (write scheduler, lost statement) are not applied: run `node deploy/postgres-driver-fix.mjs` after npm ci (docs/driver-workarounds.md)",
  );
  return false;
}
