/**
 * Preloaded (`node --import`) by lazy-loading.test.ts into a real CLI process: records every
 * drizzle-orm file the process resolves, after the worker's own resolve hook (hooks
 * registered later run first), and prints them as one JSON line on stderr at exit.
 */
import { registerHooks } from 'node:module';

const files = new Set<string>();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    const at = result.url.indexOf('/node_modules/drizzle-orm/');
    if (at >= 0) files.add(result.url.slice(at + '/node_modules/drizzle-orm/'.length));
    return result;
  },
});
process.on('exit', () => {
  process.stderr.write(`drizzle-files ${JSON.stringify([...files])}\n`);
});
