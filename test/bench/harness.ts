import os from 'node:os';

export interface Figure {
  name: string;
  figure: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  target: string;
  met: boolean;
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** One figure from several runs; `met` is judged on the median. */
export function figure(
  name: string,
  what: string,
  unit: string,
  values: number[],
  target: { text: string; ok: (median: number) => boolean },
): Figure {
  const m = median(values);
  return {
    name,
    figure: what,
    unit,
    median: round(m),
    min: round(Math.min(...values)),
    max: round(Math.max(...values)),
    target: target.text,
    met: target.ok(m),
  };
}

const round = (n: number) => (Math.abs(n) >= 100 ? Math.round(n) : Math.round(n * 1000) / 1000);

export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  return `${os.cpus().length} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

export function table(figures: Figure[]): string {
  const header = ['scenario', 'figure', 'median', 'min', 'max', 'unit', 'target', 'met'];
  const rows = figures.map((f) =>
    [f.name, f.figure, f.median, f.min, f.max, f.unit, f.target, f.met ? 'yes' : 'NO'].map(String),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export async function time<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}
