/**
 * Fills Node's compile cache (NODE_COMPILE_CACHE) with every module the worker's commands
 * load, so a process started later neither strips a type nor compiles a module from scratch:
 *   NODE_COMPILE_CACHE=<dir> node src/warm-compile-cache.ts
 * The image runs it at build time (Dockerfile). Why: the cache holds each file's stripped
 * JavaScript, so with it Node never loads its type stripper (a WebAssembly module that keeps
 * ~18 MB resident for the life of the process), and the V8 code cache makes start-up cheaper.
 * A file changed since is stripped and compiled as usual: the cache is keyed by content.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { flushCompileCache, getCompileCacheDir } from 'node:module';
import { loadDrizzleAsCommonJs } from './drizzle-as-commonjs.ts';

if (!getCompileCacheDir()) {
  process.stderr.write('warm-compile-cache: set NODE_COMPILE_CACHE to the cache directory\n');
  process.exit(2);
}
// As the commands load drizzle-orm, so its CommonJS files are the ones cached.
loadDrizzleAsCommonJs();
// The modules main.ts imports when a command runs, read from its import() calls so the list
// cannot drift from main.ts; importing one runs nothing (nothing in src/ acts at import time).
const main = new URL('./main.ts', import.meta.url);
await import(main.href);
const lazy = [...readFileSync(main, 'utf8').matchAll(/\bimport\(\s*'(\.\/[^']+)'\s*\)/g)].map((m) => m[1]!);
for (const specifier of lazy) await import(new URL(specifier, main).href);
// The packages a module imports only when it first needs them (luma.ts's got, at the first
// Luma request), read from the dynamic imports of a package name in src/ (src/local/ holds
// development tools, not in the image): cached too, so the first sync compiles nothing either.
const src = new URL('./', import.meta.url);
const late = new Set<string>();
for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
  if (!file.endsWith('.ts') || file.startsWith('local/')) continue;
  for (const m of readFileSync(new URL(file, src), 'utf8').matchAll(/\bimport\(\s*'([^'./][^']*)'\s*\)/g))
    late.add(m[1]!);
}
for (const specifier of late) await import(specifier);
flushCompileCache();
process.stdout.write(
  `warm-compile-cache: ${lazy.length + 1} entry modules, ${late.size} late packages and their imports cached\n`,
);
