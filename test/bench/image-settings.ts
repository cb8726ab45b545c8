import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { healthcheck, parseDockerfile } from '../deploy/dockerfile.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The runtime stage (the Dockerfile's last) as the bench needs it: so the bench runs what the image runs. */
export function imageSettings(): { env: Record<string, string>; healthcheck: string[] } {
  const runtime = parseDockerfile(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')).stages.at(-1)!;
  const env: Record<string, string> = {};
  for (const { keyword, args } of runtime.instructions) {
    if (keyword !== 'ENV') continue;
    // KEY=value pairs, values plain or double-quoted (the forms the Dockerfile uses).
    for (const [, key, value] of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) {
      env[key!] = value!.startsWith('"') ? value!.slice(1, -1) : value!;
    }
  }
  const instruction = runtime.instructions.filter((i) => i.keyword === 'HEALTHCHECK').at(-1)!;
  return { env, healthcheck: healthcheck(instruction.args).command };
}
