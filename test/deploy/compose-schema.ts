/**
 * Validates a parsed compose file against the upstream Compose Specification schema,
 * vendored unchanged in compose-spec.json. Returns one line per problem, [] when valid.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';

export const COMPOSE_SPEC_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'compose-spec.json');

export function validateCompose(document: unknown): string[] {
  const schema = JSON.parse(readFileSync(COMPOSE_SPEC_FILE, 'utf8')) as Record<string, unknown>;
  // Not edited to please Ajv: it names draft-07 without the trailing '#' Ajv registers it
  // under (so no meta-schema lookup), and a few of its subschemas leave `type` implicit,
  // which Ajv's strictTypes would refuse. Unknown keywords still fail (strictSchema).
  const ajv = new Ajv({ allErrors: true, strictSchema: true, strictTypes: false, validateSchema: false });
  const validate = ajv.compile(schema);
  if (validate(document)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}
