/**
 * What the CLI says when its arguments are wrong: one line naming the problem, a pointer
 * to --help, and for a mistyped flag the closest one it knows (not parseArgs' advice to
 * put the flag after `--`).
 */
export class UsageError extends Error {}

/** The usage error's text as printed: the cause, then where to read the usage. */
export function usageMessage(err: UsageError): string {
  return `luma-guest-sync: ${err.message}\nRun 'luma-guest-sync --help' for the commands and options.\n`;
}

/**
 * Rewrites parseArgs' own errors into ours: an unknown option names the closest known
 * one when it is a plausible typo; a missing value says which option needs one.
 */
export function explainParseError(err: unknown, known: readonly string[]): UsageError {
  const e = err as { code?: string; message?: string };
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = /'(-{1,2}[^']*)'/.exec(e.message ?? '')?.[1] ?? '';
    const closest = closestFlag(flag.replace(/^-+/, '').split('=')[0] ?? '', known);
    return new UsageError(`unknown option ${flag}${closest ? `; did you mean --${closest}?` : ''}`);
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = /'(-{1,2}[^' ]*)/.exec(e.message ?? '')?.[1] ?? 'an option';
    return new UsageError(`${flag} needs a value`);
  }
  return new UsageError(e.message ?? String(err));
}

/** The known flag nearest to `typed` by edit distance, if at most a third of its length away. */
export function closestFlag(typed: string, known: readonly string[]): string | undefined {
  let best: { flag: string; distance: number } | undefined;
  for (const flag of known) {
    const distance = editDistance(typed, flag);
    if (!best || distance < best.distance) best = { flag, distance };
  }
  return best && best.distance <= Math.max(1, Math.floor(best.flag.length / 3)) ? best.flag : undefined;
}

/** Levenshtein distance, with a swap of two neighbours counting as one edit. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}
