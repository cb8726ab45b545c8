import { readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';

export interface ImportGraph {
  /** Every source file reached, with the chain of files that led to it ("a.ts -> b.ts"). */
  files: Map<string, string>;
  /** Every package specifier reached (builtins left out), with the chain that imports it. */
  packages: Array<{ specifier: string; via: string }>;
}

// Static imports and re-exports; `import type` and `export type` are erased.
const STATIC = /^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]/gm;
// import('…') with a literal specifier: loaded when the code runs, not when the file loads.
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/**
 * The source files and packages `entry` loads, read from the import statements: its static
 * imports only (what loading the file costs), or with `dynamic` its literal import() calls too
 * (everything any command can load).
 */
export function importGraph(entry: string, options: { dynamic: boolean }): ImportGraph {
  const root = path.dirname(entry);
  const files = new Map<string, string>([[entry, path.basename(entry)]]);
  const packages: ImportGraph['packages'] = [];
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift()!;
    const via = files.get(file)!;
    const text = readFileSync(file, 'utf8');
    const specifiers = [...text.matchAll(STATIC)];
    if (options.dynamic) specifiers.push(...text.matchAll(DYNAMIC));
    for (const [, specifier] of specifiers) {
      if (!specifier || isBuiltin(specifier)) continue;
      if (!specifier.startsWith('.')) {
        packages.push({ specifier, via });
        continue;
      }
      const resolved = path.resolve(path.dirname(file), specifier);
      if (!files.has(resolved)) {
        files.set(resolved, `${via} -> ${path.relative(root, resolved)}`);
        queue.push(resolved);
      }
    }
  }
  return { files, packages };
}

/** The npm package a specifier names: "@aws-sdk/client-sqs" of "@aws-sdk/client-sqs/x", "a" of "a/b". */
export function packageName(specifier: string): string {
  return specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
}
