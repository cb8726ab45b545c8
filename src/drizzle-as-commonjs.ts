/**
 * Makes every `import … from 'drizzle-orm…'` in this process load drizzle's CommonJS build.
 *
 * Why: drizzle-orm's package.json is 179 KB with 447 "exports", and Node 24's ES module
 * loader parses it again for each of the ~104 files an ESM import of drizzle-orm/postgres-js
 * loads. That costs 2.6 s of start-up and ~150 MB of short-lived garbage, after which V8
 * keeps an enlarged young generation for minutes: a process at ~286 MB RSS. The CommonJS
 * build is the same code (drizzle publishes both), loaded through require: 68 MB, 0.2 s.
 * The source keeps its plain imports; the resolver picks drizzle's "require" files.
 *
 * Call it before anything imports drizzle-orm: a module imported before it keeps the ES
 * build, and two copies of drizzle in one process break `instanceof DrizzleQueryError`.
 * main.ts's static imports hold no drizzle for that reason (test/startup/lazy-loading.test.ts).
 */
import { registerHooks } from 'node:module';

const DRIZZLE = /^drizzle-orm(?:\/|$)/;

let registered = false;

export function loadDrizzleAsCommonJs(): void {
  if (registered) return;
  registered = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (!DRIZZLE.test(specifier)) return nextResolve(specifier, context);
      // Resolve as require() would: the package's "require" export condition, its .cjs files.
      return nextResolve(specifier, { ...context, conditions: ['node', 'require'] });
    },
  });
}
