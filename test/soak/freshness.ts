/**
 * Freshness: the delay from a guest's approval on Luma to their row in the directory,
 * by what triggered the sync that wrote it (webhook, tier, or the daily pass) — the
 * latest sync of that event to start before the row appeared.
 */
import type { GuestChange } from './audit.ts';
import type { Registration } from './driver.ts';
import type { Replica } from './replicas.ts';
import type { Figure } from './report.ts';

export function freshness(input: {
  registrations: Registration[];
  inserts: GuestChange[];
  replicas: Replica[];
  deletedMembers: Set<string>;
  /** When each event was linked (registrations before that wait for the link). */
  linkedAt: Map<string, number>;
}): { figures: Figure[]; measured: number } {
  const starts = input.replicas.flatMap((r) => r.incarnations.flatMap((i) => i.starts)).sort((a, b) => a.at - b.at);
  const inserted = new Map<string, number>();
  for (const row of input.inserts) {
    const key = `${row.eventUid}/${row.memberUid}`;
    if (!inserted.has(key)) inserted.set(key, row.at);
  }
  const delays = new Map<string, number[]>();
  let measured = 0;
  for (const reg of input.registrations) {
    if (!reg.memberUid || input.deletedMembers.has(reg.memberUid)) continue;
    const at = inserted.get(`${reg.eventUid}/${reg.memberUid}`);
    if (at === undefined) continue;
    const from = Math.max(reg.at, input.linkedAt.get(reg.eventUid) ?? 0);
    const trigger =
      starts.filter((s) => s.eventUid === reg.eventUid && s.at <= at + 1_000).at(-1)?.trigger ?? 'unknown';
    delays.set(trigger, [...(delays.get(trigger) ?? []), (at - from) / 1000]);
    measured++;
  }
  const figures: Figure[] = [];
  for (const trigger of ['webhook', 'tier', 'schedule', 'manual', 'unknown']) {
    const values = delays.get(trigger);
    if (!values) continue;
    figures.push({
      name: `freshness, ${trigger === 'schedule' ? 'daily' : trigger}-triggered`,
      value: `p50 ${percentile(values, 0.5).toFixed(1)} s, p95 ${percentile(values, 0.95).toFixed(1)} s (${values.length} registrations)`,
    });
  }
  return { figures, measured };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
}
