/**
 * Which test files exercise a source module: those that import it, directly or through
 * other modules (static `import … from` and `import()` with a literal path). Stryker then
 * runs only these files for that module's mutants. A module reached only through a child
 * process (test/support/worker-process.ts starts src/main.ts) is not seen this way; Stryker
 * could not collect that process's coverage anyway.
 */
import { globSync, readFileSync } from 'node:fs';
import { dirname, normalize, relative, resolve } from 'node:path';

/** The test files a mutation run may use: as `npm test`, less the container, bench and ops suites. */
export function mutationTestFiles(root: string): string[] {
  return globSync('test/**/*.test.ts', { cwd: root })
    .filter((file) => !/^test\/(bench|ops|container)\//.test(file))
    .sort();
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

function importsOf(root: string, file: string): string[] {
  const text = readFileSync(resolve(root, file), 'utf8');
  return [...text.matchAll(IMPORT)].map((m) => normalize(relative(root, resolve(root, dirname(file), m[1]!))));
}

/** The test files (of `candidates`) that reach any of `modules` (paths relative to `root`). */
export function testsReaching(
  root: string,
  modules: readonly string[],
  candidates = mutationTestFiles(root),
): string[] {
  const wanted = new Set(modules.map((m) => normalize(m)));
  const imports = new Map<string, string[]>();
  const depsOf = (file: string): string[] => {
    let deps = imports.get(file);
    if (!deps) {
      try {
        deps = importsOf(root, file);
      } catch {
        deps = []; // not a file here (a generated or removed path)
      }
      imports.set(file, deps);
    }
    return deps;
  };
  return candidates.filter((test) => {
    const seen = new Set([test]);
    const queue = [test];
    for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
      if (wanted.has(file)) return true;
      for (const dep of depsOf(file)) {
        if (!seen.has(dep)) {
          seen.add(dep);
          queue.push(dep);
        }
      }
    }
    return false;
  });
}
