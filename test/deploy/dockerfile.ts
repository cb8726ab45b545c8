/**
 * A small Dockerfile reader for the deployment tests: enough of the format to read our
 * own Dockerfile's stages and its HEALTHCHECK command, not a general parser.
 */

export interface Instruction {
  /** Upper-cased, e.g. "RUN". */
  keyword: string;
  /** The rest of the instruction, continuation lines joined. */
  args: string;
  line: number;
}

export interface Stage {
  name: string | undefined;
  /** The image or earlier stage it starts from, build args substituted. */
  from: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const instructions = splitInstructions(text);
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const [image = '', as, name] = words;
      if (as !== undefined && as.toUpperCase() !== 'AS') throw new Error(`line ${instruction.line}: bad FROM`);
      stages.push({ name, from: substitute(image, globalArgs), instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) {
      if (instruction.keyword !== 'ARG')
        throw new Error(`line ${instruction.line}: ${instruction.keyword} before FROM`);
      const [key = '', value = ''] = instruction.args.split('=', 2);
      globalArgs[key.trim()] = value.trim();
      continue;
    }
    stage.instructions.push(instruction);
  }
  return { globalArgs, stages };
}

/** Joins continuation lines and drops comments (also those inside a continued instruction). */
function splitInstructions(text: string): Instruction[] {
  const result: Instruction[] = [];
  let current: { parts: string[]; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed.startsWith('#') || (trimmed === '' && !current)) return;
    const continues = trimmed.endsWith('\\');
    const part = continues ? trimmed.slice(0, -1).trim() : trimmed;
    if (current) current.parts.push(part);
    else current = { parts: [part], line: index + 1 };
    if (!continues) {
      const joined = current.parts.filter(Boolean).join(' ');
      const match = /^(\w+)\s*(.*)$/s.exec(joined);
      if (!match) throw new Error(`line ${current.line}: cannot read "${joined}"`);
      result.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: current.line });
      current = undefined;
    }
  });
  if (current) throw new Error(`line ${current.line}: continuation at end of file`);
  return result;
}

function substitute(value: string, args: Record<string, string>): string {
  return value.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (_, a: string | undefined, b: string | undefined) => args[a ?? b ?? ''] ?? '',
  );
}

/** The JSON array of an exec-form instruction (ENTRYPOINT, CMD, HEALTHCHECK's CMD); throws on shell form. */
export function execForm(args: string): string[] {
  if (!args.startsWith('[')) throw new Error(`not exec form: ${args}`);
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === 'string')) throw new Error(`bad exec form: ${args}`);
  return parsed;
}

/** HEALTHCHECK's options and command: `--interval=15s ... CMD [...]`. */
export function healthcheck(args: string): { options: Record<string, string>; command: string[] } {
  const match = /^((?:--[\w-]+=\S+\s+)*)CMD\s+(.*)$/s.exec(args);
  if (!match) throw new Error(`HEALTHCHECK without CMD: ${args}`);
  const options = Object.fromEntries(
    (match[1] ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .map((o) => o.slice(2).split('=', 2) as [string, string]),
  );
  return { options, command: execForm(match[2]!.trim()) };
}
