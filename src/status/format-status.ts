import type { SyncHistoryRow } from '../history/queries.ts';
import type { EventStatus } from './event-status.ts';

/** "3h 12m", "2d 4h", "45s": the coarsest two units, for ages and waits. */
function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const units: Array<[string, number]> = [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ];
  const parts: string[] = [];
  let rest = s;
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0 || (unit === 's' && parts.length === 0)) parts.push(`${n}${unit}`);
    rest -= n * size;
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

const utc = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')}Z`;
const count = (n: number | null | undefined) => (n === null || n === undefined ? '-' : String(n));
const outcomeOf = (a: Pick<SyncHistoryRow, 'outcome' | 'errorKind'>) => {
  switch (a.outcome) {
    case 'success':
      return 'ok';
    // Neither is a failure: the event was being synced elsewhere, or Luma asked for a long wait.
    case 'refused':
      return 'refused (another sync held the event)';
    case 'deferred':
      return 'deferred (Luma asked to wait)';
    default:
      return `failed (${a.errorKind ?? 'unknown'})`;
  }
};

/** Left-aligned columns, two spaces apart; every cell is plain text. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** The events table of `status`, and a closing line with what needs attention. */
export function formatStatusTable(events: readonly EventStatus[], now: Date): string {
  const rows = events.map((e) => {
    const a = e.lastAttempt;
    const flags = [e.failed ? 'FAILED' : '', e.overdue ? 'OVERDUE' : ''].filter(Boolean).join(',');
    return [
      e.eventUid,
      e.name.length > 32 ? `${e.name.slice(0, 31)}…` : e.name,
      utc(e.startDate),
      a ? `${humanDuration((now.getTime() - a.finishedAt.getTime()) / 1000)} ago` : 'never',
      a?.trigger ?? '-',
      a ? outcomeOf(a) : '-',
      count(a?.pages),
      count(a?.created),
      count(a?.matched),
      count(a?.withoutAccount),
      e.ageSeconds === undefined ? 'never' : humanDuration(e.ageSeconds),
      e.nextDueAt ? `${dueIn(e.nextDueAt, now)} (${e.nextDueBy})` : '-',
      flags || 'ok',
    ];
  });
  const header = [
    'EVENT',
    'NAME',
    'STARTS',
    'LAST ATTEMPT',
    'TRIGGER',
    'OUTCOME',
    'PAGES',
    'CREATED',
    'MATCHED',
    'NO ACCOUNT',
    'AGE',
    'NEXT DUE',
    'STATUS',
  ];
  const failed = events.filter((e) => e.failed).length;
  const overdue = events.filter((e) => e.overdue).length;
  const summary = `${events.length} syncable event(s): ${failed} whose last sync failed, ${overdue} overdue`;
  return `${table(header, rows)}\n\n${summary}`;
}

/** One event's status and its recent attempts, newest first. */
export function formatEventHistory(event: EventStatus, history: readonly SyncHistoryRow[], now: Date): string {
  const head = formatStatusTable([event], now).split('\n\n')[0];
  const rows = history.map((h) => [
    utc(h.startedAt),
    `${((h.finishedAt.getTime() - h.startedAt.getTime()) / 1000).toFixed(1)}s`,
    h.trigger,
    outcomeOf(h),
    count(h.pages),
    count(h.fetched),
    count(h.matched),
    count(h.created),
    count(h.removed),
    count(h.skipped),
    count(h.withoutAccount),
  ]);
  const header = [
    'STARTED',
    'TOOK',
    'TRIGGER',
    'OUTCOME',
    'PAGES',
    'FETCHED',
    'MATCHED',
    'CREATED',
    'REMOVED',
    'SKIPPED',
    'NO ACCOUNT',
  ];
  const past = history.length ? table(header, rows) : 'no sync attempts recorded';
  return `${head}\n\nRecent attempts (newest first):\n${past}`;
}

function dueIn(at: Date, now: Date): string {
  const seconds = (at.getTime() - now.getTime()) / 1000;
  return seconds <= 0 ? 'now' : `in ${humanDuration(seconds)}`;
}
