/**
 * The soak's outcome: invariants (each holds or not, with the evidence) and figures
 * (reported), printed as one table and written as JSON.
 */
export interface Invariant {
  name: string;
  ok: boolean;
  /** The figure behind the verdict, and a few examples when it failed. */
  detail: string;
}

export interface Figure {
  name: string;
  value: string;
}

export interface SoakReport {
  seed: number;
  command: string;
  startedAt: string;
  finishedAt: string;
  machine: string;
  scale: string;
  faults: Array<{ at: string; offsetS: number; what: string }>;
  /** What was broken on purpose (empty in a real run). */
  sabotage: string[];
  invariants: Invariant[];
  figures: Figure[];
  ok: boolean;
}

export function invariant(name: string, ok: boolean, detail: string): Invariant {
  return { name, ok, detail };
}

/** Up to `n` examples, for a failure's detail. */
export const examples = (items: unknown[], n = 3) =>
  items.length === 0
    ? ''
    : `; e.g. ${items
        .slice(0, n)
        .map((i) => (typeof i === 'string' ? i : JSON.stringify(i)))
        .join(', ')}`;

export function table(report: SoakReport): string {
  const rows: string[][] = [
    ...report.invariants.map((i) => [i.ok ? 'ok' : 'BROKEN', i.name, i.detail]),
    ...report.figures.map((f) => ['figure', f.name, f.value]),
  ];
  const widths = [0, 1].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`).join('\n');
}
